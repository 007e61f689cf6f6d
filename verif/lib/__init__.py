"""The verification library: everything two tests share lives here, tests never import each other.

- :mod:`verif.lib.cocotb_streams`: stream source / sink / monitor for the generated Verilog
  under cocotb, with pause generators, reset and single-cycle pulses;
- :mod:`verif.lib.sim_streams`: the same classes for the Amaranth simulator;
- :mod:`verif.lib.pause`: the pause generators both take (idle inputs, withheld ``ready``);
- :mod:`verif.lib.payload`: payload integers packed and unpacked by the hdl layouts;
- :mod:`verif.lib.budget`: cycle budgets, so a DUT that loses a beat fails instead of hanging;
- :mod:`verif.lib.stimuli`: the GEMM modes, random GEMM jobs and the corner vectors of a block;
- :mod:`verif.lib.gradients`, :mod:`verif.lib.control_model`: golden-side models the gradient
  tests run beside the DUT.
"""
