"""The verification library: everything two tests share lives here, tests never import each other.

- :mod:`verif.lib.cocotb_streams`: stream source / sink / monitor for the generated Verilog
  under cocotb, with pause generators, reset and single-cycle pulses;
- :mod:`verif.lib.sim_streams`: the same classes for the Amaranth simulator;
- :mod:`verif.lib.streams`: what the twins share: pause generators (idle inputs, withheld
  ``ready``) and the bookkeeping of a source, monitor and sink;
- :mod:`verif.lib.payload`: payload integers packed and unpacked by the hdl layouts;
- :mod:`verif.lib.budget`: cycle budgets, so a DUT that loses a beat fails instead of hanging;
- :mod:`verif.lib.stimuli`: the GEMM modes, random GEMM jobs and the corner vectors of a block;
- :mod:`verif.lib.gemm_jobs`: GEMM jobs for the array, their beats and the golden check;
- :mod:`verif.lib.mx_dots`: MXFP4 dot products for the MXFP4 PE: beats, golden results and
  the PE's framing model;
- :mod:`verif.lib.nv_dots`: the same for the NVFP4 PE (blocks of 16, E4M3 scales);
- :mod:`verif.lib.block_pe_sim`: running either block-scaled PE against golden, in the
  Amaranth simulator and under cocotb;
- :mod:`verif.lib.mx_tiles`: MXFP4 tiles for the MXFP4 array, their beats and the golden
  check;
- :mod:`verif.lib.simulators`: the simulators the cocotb tests run under;
- :mod:`verif.lib.gradients`, :mod:`verif.lib.control_model`: golden-side models the gradient
  tests run beside the DUT.
"""
