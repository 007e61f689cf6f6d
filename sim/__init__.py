"""Running the RTL: simulator set-up, cocotb builds, waveforms, benchmarks."""
