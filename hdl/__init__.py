"""fourbit gateware (Amaranth 0.5): INT4/R4 processing elements, the systolic array, the radix-4
gradient unit, the read-out converter and the FP16 FMA baseline."""
