"""fourbit tests."""
