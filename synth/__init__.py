"""Synthesis flow: LUTs, carries, flip-flops and Fmax of fourbit's designs on iCE40 and ECP5."""
