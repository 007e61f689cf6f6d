"""The catalogue of gateware mutants that ``make mutate`` runs against the fast tests.

Each :class:`Mutant` is one small textual edit of one ``hdl/`` file: ``before`` must occur
exactly once in that file (``verif/test_mutants.py`` checks this in ``make test``, so the
catalogue cannot silently stop applying when the source changes) and is replaced by
``after``. ``tests`` lists the most relevant test files first: the runner tries them before
the rest of the fast suite. A mutant that no test can kill because it does not change
behaviour carries ``equivalent``, the reason. docs/mutation.md explains how to use it.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BLOCKS", "MUTANTS", "Mutant"]

#: The blocks the catalogue must cover (issue 15): every entry names one of them.
BLOCKS = ("operand decode", "shifts", "thresholds", "saturation", "flags", "handshakes",
          "generator", "amax", "read-out rounding", "array scheduling", "controls")


@dataclass(frozen=True)
class Mutant:
    """One gateware mutant: replace ``before`` (exactly once in ``path``) by ``after``."""

    name: str
    block: str
    path: str
    before: str
    after: str
    tests: tuple[str, ...]
    what: str
    equivalent: str | None = None


PE = ("verif/hdl/test_pe.py", "verif/hdl/test_array.py", "verif/rtl/test_pe.py",
      "verif/rtl/test_array.py")
ARRAY = ("verif/hdl/test_cycle_counts.py", "verif/hdl/test_array.py", "verif/rtl/test_array.py",
         "verif/rtl/test_backward_tile.py")
LANE = ("verif/hdl/test_r4_lane.py", "verif/hdl/test_controls.py",
        "verif/rtl/test_r4_quantizer.py", "verif/rtl/test_gradient_unit.py")
UNIT = ("verif/hdl/test_controls.py", "verif/hdl/test_r4_lane.py",
        "verif/rtl/test_gradient_unit.py", "verif/rtl/test_backward_tile.py")
AMAX = ("verif/hdl/test_amax.py", "verif/hdl/test_controls.py",
        "verif/rtl/test_gradient_unit.py")
READOUT = ("verif/hdl/test_readout.py", "verif/hdl/test_controls.py",
           "verif/hdl/test_cycle_counts.py", "verif/rtl/test_readout.py")
TILE = ("verif/hdl/test_controls.py", "verif/rtl/test_backward_tile.py")
MX = ("verif/hdl/test_mx_pe.py", "verif/rtl/test_mx_pe.py")
NV = ("verif/hdl/test_nv_pe.py", "verif/rtl/test_nv_pe.py")
FP16 = ("verif/hdl/test_fp16_fma.py", "verif/rtl/test_fp16_fma.py")
STAGES = ("verif/hdl/test_cycle_counts.py", "verif/hdl/test_controls.py",
          "verif/hdl/test_r4_lane.py", "verif/hdl/test_readout.py")

MUTANTS: tuple[Mutant, ...] = (
    # ---------------------------------------------------------------- PE: operand decode
    Mutant("pe_uint4_a_sign_extended", "operand decode", "hdl/pe.py",
           "a = Cat(self.a, self.a[3] & ~self.mode.a_format.as_value()[0]).as_signed()",
           "a = Cat(self.a, self.a[3]).as_signed()", PE,
           "operand A read as INT4 even in UINT4 mode"),
    Mutant("pe_int_b_never_signed", "operand decode", "hdl/pe.py",
           "int_m = Cat(self.b, self.b[3] & ~fmt[0]).as_signed()",
           "int_m = Cat(self.b, Const(0, 1)).as_signed()", PE,
           "integer operand B never sign-extended (INT4 read as UINT4)"),
    Mutant("pe_r4_zero_codes_nonzero", "operand decode", "hdl/pe.py",
           "r4_m = Mux(nonzero, Mux(self.b[3], -1, 1), 0)",
           "r4_m = Mux(self.b[3], -1, 1)", PE,
           "R4 codes 0000 and 1000 (zero) decoded as +-1"),
    Mutant("pe_isolation_misses_zero_b", "operand decode", "hdl/pe.py",
           "with m.If(self.a.any() | b_zero):", "with m.If(self.a.any()):", PE,
           "operand isolation keeps a stale B when both codes are zero"),
    Mutant("pe_b_format_bit_swapped", "operand decode", "hdl/pe.py",
           "is_r4 = fmt[1]", "is_r4 = fmt[0]", PE,
           "R4 path selected by the UINT4 bit of the B format"),
    # ---------------------------------------------------------------- PE: shifts
    Mutant("pe_shift_phase_inverted", "shifts", "hdl/pe.py",
           "Cat(~self.mode.phase, e - 1)", "Cat(self.mode.phase, e - 1)", PE,
           "R4 shift 2e - 1 + phase instead of 2e - 1 - phase"),
    Mutant("pe_shift_exponent_off_by_one", "shifts", "hdl/pe.py",
           "Cat(~self.mode.phase, e - 1)", "Cat(~self.mode.phase, e - 2)", PE,
           "R4 shift two positions short"),
    Mutant("pe_shift_from_wrong_stage", "shifts", "hdl/pe.py",
           "product.eq(scaled << shift_2)", "product.eq(scaled << shift_1)", PE,
           "stage 3 shifts by the next product's amount (pipeline misalignment)"),
    # ---------------------------------------------------------------- PE: saturation, flags
    Mutant("pe_not_sticky", "saturation", "hdl/pe.py",
           "with m.Elif(valid_3 & ~frozen):", "with m.Elif(valid_3):", PE,
           "the accumulator keeps adding after leaving the range (not sticky)"),
    Mutant("pe_rails_swapped", "saturation", "hdl/pe.py",
           "Mux(drained.negative, low, high)", "Mux(drained.negative, high, low)", PE,
           "an overflowing tile clamps to the opposite rail"),
    Mutant("pe_accumulator_one_bit_short", "saturation", "hdl/pe.py",
           "return max(acc_width + 1, 20)", "return max(acc_width, 20)", PE,
           "accumulator register without the extra bit that holds the first overflow"),
    Mutant("pe_last_add_overflow_unflagged", "flags", "hdl/pe.py",
           "self.drain.overflow.eq(frozen | leaves)", "self.drain.overflow.eq(frozen)", PE,
           "an overflow on a tile's last add is not flagged"),
    Mutant("pe_direction_from_low_bits", "flags", "hdl/pe.py",
           "self.drain.negative.eq(total[rw - 1])", "self.drain.negative.eq(total[w - 1])",
           PE, "overflow direction read from bit w-1 instead of the sign bit"),
    Mutant("pe_tile_end_keeps_sum", "array scheduling", "hdl/pe.py",
           "with m.If(last_3):\n            m.d.sync += acc.eq(0)",
           "with m.If(last_3):\n            m.d.sync += acc.eq(total)", PE,
           "the accumulator is not cleared at a tile end"),
    # ---------------------------------------------------------------- array scheduling
    Mutant("hold_ready_only_when_empty", "array scheduling", "hdl/stream.py",
           "upstream.ready.eq(~full | release)", "upstream.ready.eq(~full)", ARRAY,
           "an array's operand register is ready only when empty: results right, half the "
           "throughput (issue 15's third survivor)"),
    Mutant("hold_never_released", "array scheduling", "hdl/stream.py",
           "with m.Elif(release):\n        m.d.sync += full.eq(0)",
           "with m.Elif(0):\n        m.d.sync += full.eq(0)", ARRAY,
           "an operand register stays full after its beat entered the PEs"),
    Mutant("array_last_beat_not_held", "array scheduling", "hdl/array.py",
           "issue = a_full & b_full & ~(a_reg.last & busy)", "issue = a_full & b_full",
           ARRAY, "a tile's last beat enters while the result chain is busy"),
    Mutant("array_busy_ignores_output", "array scheduling", "hdl/array.py",
           "| (issue & a_reg.last)\n"
           "                            | (out_valid & ~(fire & out_last)))",
           "| (issue & a_reg.last))", ARRAY,
           "a drain may overwrite result rows still waiting on o_c"),
    Mutant("array_busy_ignores_stage_1", "array scheduling", "hdl/array.py",
           "busy.eq(end_3 | end_2 | end_1 |", "busy.eq(end_3 | end_2 |", ARRAY,
           "a tile end in PE stage 1 does not hold the next tile's last beat"),
    Mutant("array_busy_overcautious", "array scheduling", "hdl/array.py",
           "issue = a_full & b_full & ~(a_reg.last & busy)", "issue = a_full & b_full & ~busy",
           ARRAY, "every beat (not only a last one) waits while the chain is busy"),
    Mutant("array_drain_one_cycle_early", "array scheduling", "hdl/array.py",
           "end_3.eq(end_2)", "end_3.eq(end_1)", ARRAY,
           "the result chain loads before the tile's last add"),
    Mutant("array_last_flag_late", "array scheduling", "hdl/stream.py",
           "last.eq(pending == 2)", "last.eq(pending == 1)", ARRAY,
           "o_c.last one row late (and one row too many)"),
    Mutant("array_result_clamp_skipped", "saturation", "hdl/array.py",
           "self.o_c.payload.data[j].acc.eq(saturate(chain[0][j], self._acc_width))",
           "self.o_c.payload.data[j].acc.eq(chain[0][j].value)", ARRAY,
           "o_c carries the raw sum of an overflowing tile instead of its rail"),
    # ---------------------------------------------------------------- R4 lane datapath
    Mutant("r4_phase_subtracted", "shifts", "hdl/r4_quantizer.py",
           '"bias": scale_exp + phase - 15', '"bias": scale_exp - phase - 15',
           LANE, "TPR phase moves the exponent the wrong way"),
    Mutant("r4_subnormal_exponent", "operand decode", "hdl/r4_quantizer.py",
           'common["bias"] + 1 - v["lz"]', 'common["bias"] - v["lz"]', LANE,
           "subnormal FP16 inputs decoded one binade low"),
    Mutant("r4_saturation_threshold", "thresholds", "hdl/r4_quantizer.py",
           '"top": v["inf"] | (ey >= 6)', '"top": v["inf"] | (ey >= 7)', LANE,
           "values in [64, 128) after scaling are not saturated to the top level"),
    Mutant("r4_range_threshold", "thresholds", "hdl/r4_quantizer.py",
           '"in_range": ey >= -6', '"in_range": ey >= -5', LANE,
           "the lowest binade treated as below range"),
    Mutant("r4_nearest_threshold", "thresholds", "hdl/r4_quantizer.py",
           'v["t"] & (v["man"][9] | v["man"][8])', 'v["t"] & v["man"][9]', LANE,
           "nearest rounds up from 1.5 L instead of 1.25 L in [2L, 4L)"),
    Mutant("r4_below_range_nearest", "thresholds", "hdl/r4_quantizer.py",
           '"lowest": ey == -7', '"lowest": ey == -8', LANE,
           "nearest below range maps the wrong binade to the lowest level"),
    Mutant("r4_stochastic_distance", "thresholds", "hdl/r4_quantizer.py",
           '"r3": v["r"] + (v["r"] << 1)', '"r3": v["r"] << 1', LANE,
           "stochastic rounding compares against a wrong distance scale"),
    Mutant("r4_below_range_shift", "shifts", "hdl/r4_quantizer.py",
           "Mux(ey < -23, 0, ey + 23)", "Mux(ey < -23, 0, ey + 22)", LANE,
           "stochastic below-range probability halved"),
    Mutant("r4_draw_low_half", "generator", "hdl/r4_quantizer.py",
           'r = v["draw"][16:32]', 'r = v["draw"][0:16]', LANE,
           "the low 16 bits of the draw used instead of the high 16"),
    Mutant("r4_saturated_flag_misses_64_plus", "flags", "hdl/r4_quantizer.py",
           "& ((ey > 6) | ((ey == 6) & (man != 1024))),", "& (ey > 6),", LANE,
           "y in (64, 128) not flagged as saturated"),
    Mutant("r4_invalid_only_nan", "flags", "hdl/r4_quantizer.py",
           '"invalid": e == 31,', '"invalid": (e == 31) & (f != 0),', LANE,
           "Inf inputs not flagged invalid"),
    # ---------------------------------------------------------------- pipeline handshake (all units)
    Mutant("lane_ready_needs_output_ready", "handshakes", "hdl/stream.py",
           "advance.eq(downstream.ready | ~valids[-1])", "advance.eq(downstream.ready)",
           STAGES, "the empty pipeline refuses a beat while o.ready is low"),
    Mutant("lane_output_dropped_under_stall", "handshakes", "hdl/stream.py",
           "with m.If(advance):", "with m.If(1):", STAGES,
           "the stages move while the output is stalled: a stalled beat is overwritten"),
    Mutant("readout_ready_only_when_empty", "handshakes", "hdl/stream.py",
           "advance.eq(downstream.ready | ~valids[-1])", "advance.eq(~valids[-1])", STAGES,
           "the pipeline moves only while its last stage is empty: half the throughput"),
    Mutant("stage_never_empties", "handshakes", "hdl/stream.py",
           "m.d.sync += valid.eq(feeding)", "m.d.sync += valid.eq(feeding | valid)", STAGES,
           "a stage keeps its valid when no beat follows: a beat is delivered again"),
    # ---------------------------------------------------------------- lane controls
    Mutant("lane_generator_runs_on_stall", "generator", "hdl/r4_quantizer.py",
           "rng.advance.eq(fire & self.stochastic)",
           "rng.advance.eq(self.i.valid & self.stochastic)", LANE,
           "the generator advances on a beat that is not accepted"),
    Mutant("lane_sat_clear_drops_beat", "controls", "hdl/r4_quantizer.py",
           "skip.eq(in_flight - delivered)", "skip.eq(in_flight - delivered + accepted)", LANE,
           "sat_clear drops a saturating beat of the same cycle (documented: it counts)"),
    # ---------------------------------------------------------------- generator
    Mutant("xorshift_map_transposed", "generator", "hdl/xorshift.py",
           "if columns[i] >> j & 1", "if columns[j] >> i & 1", LANE,
           "the draws use the transposed GF(2) map of xorshift32 (a different generator)"),
    Mutant("xorshift_advance_beats_seed_load", "generator", "hdl/xorshift.py",
           "with m.If(self.seed_load):", "with m.If(self.seed_load & ~self.advance):", UNIT,
           "an advance in the seed_load cycle wins over the load (documented: the load wins)"),
    Mutant("xorshift_seed_used_in_load_cycle", "generator", "hdl/xorshift.py",
           "chain = xorshift32_steps(m, state, self._steps)",
           "chain = xorshift32_steps(m, state ^ ((state ^ self.seed) & "
           "self.seed_load.replicate(32)), self._steps)", UNIT,
           "a beat in the seed_load cycle draws from the new seed (documented: the old state)"),
    Mutant("xorshift_holds_when_told_to_advance", "generator", "hdl/xorshift.py",
           "m.d.sync += state.eq(chain[-1])", "m.d.sync += state.eq(chain[0])", UNIT,
           "a multi-lane generator advances one step per beat instead of one per lane"),
    # ---------------------------------------------------------------- gradient unit
    Mutant("unit_fire_ignores_ready", "handshakes", "hdl/gradient_unit.py",
           "fire = self.i_grad.valid & self.i_grad.ready", "fire = self.i_grad.valid", UNIT,
           "beats offered while the output is stalled advance the generator and the tracker"),
    Mutant("unit_generator_runs_in_nearest", "generator", "hdl/gradient_unit.py",
           "rng.advance.eq(fire & self.stochastic)", "rng.advance.eq(fire)", UNIT,
           "nearest beats consume draws"),
    Mutant("unit_draw_order_reversed", "generator", "hdl/r4_quantizer.py",
           '"draw": beat.draw[k]}', '"draw": beat.draw[n - 1 - k]}', UNIT,
           "lane k takes draw N-1-k of its beat (not golden's row-major order)"),
    Mutant("unit_saturation_counts_beats", "flags", "hdl/r4_quantizer.py",
           "out.saturated.eq(sum(pipe.last.lanes[k].saturated for k in range(n)))",
           "out.saturated.eq(Cat(*(pipe.last.lanes[k].saturated for k in range(n))).any())",
           UNIT, "sat_count adds one per saturating beat instead of per element"),
    Mutant("unit_sat_clear_drops_beat", "controls", "hdl/r4_quantizer.py",
           "m.d.sync += [skip.eq(in_flight - delivered), sat_count.eq(0), pending.eq(0)]",
           "m.d.sync += [skip.eq(0), sat_count.eq(0), pending.eq(0)]", UNIT,
           "beats in flight at a sat_clear are counted after it (documented: they are not)"),
    Mutant("unit_phase_not_carried", "controls", "hdl/r4_quantizer.py",
           "out.phase.eq(pipe.last.common.phase)", "out.phase.eq(beat.phase)", UNIT,
           "o_codes.phase is the phase now offered, not the one its codes were made in"),
    # ---------------------------------------------------------------- amax tracker
    Mutant("amax_tracks_idle_beats", "amax", "hdl/amax.py",
           "Mux(self.i.valid & finite, x[:15], 0)", "Mux(finite, x[:15], 0)", AMAX,
           "the tracker also takes the payload while valid is low (issue 15's first survivor)"),
    Mutant("amax_clear_keeps_nonfinite", "amax", "hdl/amax.py",
           "seen_nonfinite.eq(Mux(sink.payload.clear, 0, seen_nonfinite)",
           "seen_nonfinite.eq(Mux(0, 0, seen_nonfinite)", AMAX,
           "amax_clear does not clear nonfinite"),
    Mutant("amax_clear_drops_beat", "controls", "hdl/amax.py",
           "best.eq(Mux(beat_max > kept, beat_max, kept))",
           "best.eq(Mux(sink.payload.clear, 0, Mux(beat_max > kept, beat_max, kept)))", AMAX,
           "a beat in the clear cycle is not part of the new tensor (documented: it is)"),
    Mutant("amax_nonfinite_when_idle", "flags", "hdl/amax.py",
           "nonfinite = nonfinite | (self.i.valid & ~finite)", "nonfinite = nonfinite | ~finite",
           AMAX, "nonfinite raised by a NaN/Inf payload while valid is low"),
    Mutant("amax_top_binade_nonfinite", "amax", "hdl/amax.py",
           "finite = x[10:15] != 31", "finite = x[11:15] != 15", AMAX,
           "magnitudes in [32768, 65504] treated as NaN/Inf"),
    Mutant("amax_exponent_power_of_two", "amax", "hdl/amax.py",
           "Mux(fields.fraction_zero, 21, 20) - fields.e",
           "Mux(fields.fraction_zero, 20, 20) - fields.e", AMAX,
           "a power-of-two amax gets an exponent one too small"),
    Mutant("amax_exponent_subnormal", "amax", "hdl/amax.py",
           "Mux(fields.power_of_two, 31, 30) - fields.bit_length",
           "Mux(fields.power_of_two, 30, 30) - fields.bit_length", AMAX,
           "a subnormal power-of-two amax gets an exponent one too small"),
    Mutant("amax_ties_replace", "amax", "hdl/amax.py",
           "pairs.append(Mux(a > b, a, b))", "pairs.append(Mux(a >= b, a, b))", AMAX,
           "an equal magnitude replaces the maximum",
           equivalent="replacing the maximum by an equal magnitude stores the same 15 bits"),
    # ---------------------------------------------------------------- read-out
    Mutant("readout_round_half_up", "read-out rounding", "hdl/readout.py",
           "round_up = guard & (sticky | significand[0])", "round_up = guard", READOUT,
           "ties round away from zero instead of to even"),
    Mutant("readout_sticky_misses_shifted_out", "read-out rounding", "hdl/readout.py",
           'sticky = shifted[0] | v["lost"]', "sticky = shifted[0]", READOUT,
           "bits shifted out for a subnormal are not sticky"),
    Mutant("readout_overflow_at_inf_missed", "read-out rounding", "hdl/readout.py",
           'overflow = v["big"] | (pattern >= FP16_INF_BITS)',
           'overflow = v["big"] | (pattern > FP16_INF_BITS)', READOUT,
           "a value rounding up to exactly Inf's pattern is not saturated"),
    Mutant("readout_exponent_bias", "read-out rounding", "hdl/readout.py",
           "(exponent + 14)[:5]", "(exponent + 15)[:5]", READOUT,
           "normal results one binade too high"),
    Mutant("readout_negative_zero_lost", "read-out rounding", "hdl/readout.py",
           "Cat(pattern[:15], sign)", "Cat(pattern[:15], Const(0, 1))", READOUT,
           "every non-saturated result positive"),
    Mutant("readout_normalise_one_short", "shifts", "hdl/readout.py",
           'lead_zeros.eq(w - 1 - v["msb"])', 'lead_zeros.eq(w - 2 - v["msb"])', READOUT,
           "the leading one lands one bit below the significand's top"),
    Mutant("readout_lanes_read_lane_0", "operand decode", "hdl/readout.py",
           "[self.i.payload[k] for k in range(n)]", "[self.i.payload[0] for k in range(n)]",
           READOUT, "every lane of ReadoutLanes converts the first element of the beat"),
    # ---------------------------------------------------------------- backward tile
    Mutant("tile_phase_from_config", "controls", "hdl/backward_tile.py",
           "array.i_b.payload.phase.eq(grad.o_codes.payload.phase)",
           "array.i_b.payload.phase.eq(self.phase)", TILE,
           "the array reads codes in the current phase, not the one they were made in"),
    Mutant("tile_acc_overflow_from_readout", "flags", "hdl/backward_tile.py",
           "row[j].acc_overflow.eq(c.payload.data[j].overflow)",
           "row[j].acc_overflow.eq(rnd.result.overflow)", TILE,
           "acc_overflow reports the read-out's saturation instead of the accumulator's"),
    # ---------------------------------------------------------------- MXFP4 PE
    Mutant("mx_pe_product_sign_of_a", "operand decode", "hdl/mx_pe.py",
           "Mux(a[3] ^ b[3], -magnitude, magnitude)", "Mux(a[3], -magnitude, magnitude)", MX,
           "an E2M1 product takes the sign of A alone"),
    Mutant("mx_pe_shift_truncates", "shifts", "hdl/mx_pe.py",
           "shifted_3.eq(wide >> shift_2)",
           "shifted_3.eq(Mux(wide < 0, -((-wide) >> shift_2), wide >> shift_2))", MX,
           "a negative block sum is shifted toward zero instead of floored"),
    Mutant("mx_pe_shift_unclamped", "shifts", "hdl/mx_pe.py",
           "Mux(diff_1 > shift_max, shift_max, diff_1)", "diff_1", MX,
           "a far block's shift wraps in the shift register instead of saturating"),
    Mutant("mx_pe_sticky_dropped", "flags", "hdl/mx_pe.py",
           "lost_3.eq((sum_2 & loses_2).any())", "lost_3.eq(0)", MX,
           "bits shifted out of the window never set inexact"),
    Mutant("mx_pe_nan_not_zeroed", "flags", "hdl/mx_pe.py",
           "with m.If(any_nan):\n                    m.d.sync += self.o.payload.acc.eq(0)",
           "with m.If(0):\n                    m.d.sync += self.o.payload.acc.eq(0)", MX,
           "a NaN output keeps its window sum instead of golden's 0"),
    Mutant("mx_pe_window_carry_dropped", "saturation", "hdl/mx_pe.py",
           "hi.eq(acc_hi + high_4 + carry_4)", "hi.eq(acc_hi + high_4)", MX,
           "the low half's carry never reaches the high half of the window"),
    Mutant("mx_pe_block_sum_kept", "array scheduling", "hdl/mx_pe.py",
           "block_sum.eq(Mux(ends_1, 0, total))", "block_sum.eq(total)", MX,
           "a block sum carries into the next block"),
    Mutant("nv_pe_scale_significand_lsb_dropped", "operand decode", "hdl/nv_pe.py",
           "sig_a_1.eq(sig_a)", "sig_a_1.eq(sig_a & 0b1110)", NV,
           "A's E4M3 scale loses its significand's last bit"),
    Mutant("nv_pe_subnormal_scale_exponent", "operand decode", "hdl/nv_pe.py",
           "Mux(normal, e, 1)", "e", NV,
           "a subnormal E4M3 scale is read at exponent 0 instead of 1"),
    Mutant("mx_pe_no_beat_count", "array scheduling", "hdl/mx_pe.py",
           "ends = beat.block_last | beat.last | full", "ends = beat.block_last | beat.last",
           MX, "a block without block_last grows past 32 beats"),
    Mutant("mx_pe_output_dropped_under_stall", "handshakes", "hdl/mx_pe.py",
           "with m.If(self.o.ready):\n            m.d.sync += self.o.valid.eq(0)",
           "with m.If(1):\n            m.d.sync += self.o.valid.eq(0)", MX,
           "o.valid falls without a handshake: a stalled result is lost"),
    # ---------------------------------------------------------------- pipelined FP16 FMA PE
    Mutant("fp16_pipelined_slots_swapped", "array scheduling", "hdl/fp16_fma.py",
           "accs[done.payload.slot].eq(done.payload.result)",
           "accs[done.payload.slot ^ (done.payload.slot < 2)].eq(done.payload.result)", FP16,
           "slots 0 and 1 write each other's accumulator back"),
    Mutant("fp16_pipelined_slot_without_handshake", "handshakes", "hdl/fp16_fma.py",
           "with m.If(self.i.valid & self.i.ready):",
           "with m.If(self.i.valid):", FP16,
           "the round-robin slot advances on a beat that the PE stalls"),
    # ---------------------------------------------------------------- operand format table
    Mutant("modes_r4_reserved_code", "operand decode", "golden/format_table.py",
           "a_code=None, b_code=0b10", "a_code=None, b_code=0b11", PE, "R4 encoded as the reserved format code 0b11",
           equivalent="the reserved code 0b11 is documented to behave as R4 (bit 1 selects "
                      "the shift path; bit 0 only matters on the integer path), and host and "
                      "gateware read the same table"),
)
