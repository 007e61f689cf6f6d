"""Re-export of :func:`hdl.verilog.write_verilog` for the simulation drivers (the writer lives
in hdl/, so that hdl/ never imports from sim/)."""

from hdl.verilog import write_verilog

__all__ = ["write_verilog"]
