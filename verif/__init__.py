"""fourbit verification: golden self-tests, Amaranth-simulator unit tests, cocotb RTL tests."""
