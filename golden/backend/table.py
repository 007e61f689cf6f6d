"""The table-driven backend: bit-identical to the reference backend, an order of magnitude faster
(docs/training.md, section "The backend interface")."""

from __future__ import annotations

import numpy as np

from golden import gemm as gemm_mod
from golden.backend.base import BackendBase, GemmReadout
from golden.checks import (READOUT_OFFSET_MAX, SCALE_EXP_MAX, check_acc_width, check_crossing,
                           check_int_in_range, check_phase, check_scale_exp, check_seed,
                           check_seed_pair, passes)
from golden.format_table import A_FORMATS, B_FORMATS, format_of
from golden.formats import (DEFAULT_SEED, ROUNDINGS, XORSHIFT_BLOCK, R4Result, r4_quantize,
                            r4_stochastic_choice, xorshift32_jump_columns)
from golden.fp16 import fp16_fields, fp16_from_f32, round_f32_to_fp16

#: Read-out exponent offsets the float32 read-out serves (else: the reference). From -37 up,
#: acc * 2^(off - 112) stays a multiple of float32's smallest step 2^-149.
_FAST_OFFSETS = (-37, READOUT_OFFSET_MAX)


#: The 4-bit codes, and their two's complement values: the grids decoded by arithmetic.
_CODES = np.arange(16)
_CODES_TWOS = (_CODES ^ 8) - 8


def _xorshift_tables() -> np.ndarray:
    """T[j, v, k] = xorshift32 state k+1 steps after the seed ``v << 8j``, from
    :func:`golden.formats.xorshift32_jump_columns`: by linearity, the state k+1 steps after any
    seed s is the XOR of T[j, byte_j(s), k] over the four bytes of s, so a block of draws costs
    four row gathers."""
    cols = xorshift32_jump_columns().T             # cols[bit, k]
    tables = np.zeros((4, 256, XORSHIFT_BLOCK), dtype=np.uint32)
    for j in range(4):
        for v in range(1, 256):
            low = (v & -v).bit_length() - 1
            tables[j, v] = tables[j, v & (v - 1)] ^ cols[8 * j + low]
    return tables


def _stochastic_entries(threshold, down, up) -> np.ndarray:
    """One uint32 per FP16 pattern: round-down code, round-up code << 4, threshold << 16.

    The code rounds up iff the 16-bit draw is below the threshold. A threshold of 65536 (every
    draw rounds up) is stored as the round-up code with threshold 0.
    """
    thr = np.clip(np.asarray(threshold, dtype=np.int64), 0, 65536)
    down, up = np.asarray(down, dtype=np.int64), np.asarray(up, dtype=np.int64)
    always = thr == 65536
    down, thr = np.where(always, up, down), np.where(always, 0, thr)
    return (down | up << 4 | thr << 16).astype(np.uint32)


def _checked_seed(seed) -> int:
    """A stochastic rounding seed (None: the default one), checked like the reference does."""
    return check_seed(DEFAULT_SEED if seed is None else seed)


def _select_codes(entries, draws) -> np.ndarray:
    """Stochastic R4 codes from table entries (see :func:`_stochastic_entries`) and draws."""
    # Byte 0 holds both codes; the round-up one (bits 4..7) where the draw says up.
    codes = entries.astype(np.uint8)
    codes >>= (draws < (entries >> 16)).view(np.uint8) * np.uint8(4)   # (uint8 << is slow)
    codes &= np.uint8(15)
    return codes


def _saturated(mag, bound) -> np.ndarray:
    """R4 saturation flags: FP16 magnitude patterns above ``bound`` and below Inf."""
    mag = mag - np.uint16(bound + 1)                 # wraps below the bound
    return mag < np.uint16(0x7C00 - bound - 1)


class TableBackend(BackendBase):
    """Bit-identical to :class:`~golden.backend.reference.NumpyBackend`, an order of magnitude
    faster, built from tables.

    Contract: the same arrays and flags for every input; every input outside the fast paths
    (and every error) goes to the reference functions, the fused calls to their definitions in
    :class:`BackendBase`. The quantizer tables are :func:`golden.formats.r4_quantize`'s nearest
    codes and :func:`golden.formats.r4_stochastic_choice` per FP16 pattern, the random stream
    is built from :func:`golden.formats.xorshift32_jump_columns`. How each fast path stays
    exact: docs/training.md, section "The backend interface". verif/golden/test_layers.py and
    test_backend.py compare it with the reference on every FP16 pattern, the read-out's
    rounding cases, every operand layout and whole training runs.
    """

    name = "numpy-table"

    def __init__(self):
        self._near: dict[int, np.ndarray] = {}
        self._stoch: dict[int, np.ndarray] = {}
        self._flags: dict[int, int] = {}
        self._values: dict[tuple[str, int], np.ndarray] = {}
        self._pairs: dict[tuple[str, int], np.ndarray] = {}
        self._k_limits: dict[tuple[str, str, int], int] = {}
        self._image: tuple[np.ndarray, np.ndarray] | None = None
        self._stream_jump: list[list[int]] = []
        self._stream_high: np.ndarray | None = None
        self._tpr_near: dict[int, np.ndarray] = {}
        self._tpr_stoch: dict[int, np.ndarray] = {}

    def prepare(self, scale_exps) -> "TableBackend":
        """Build the quantizer tables for these GradScale exponents now (else on first use)."""
        for g in scale_exps:
            for p in (0, 1):
                self._flag_tables(g + p)
                self._stochastic_tables(g + p)
        self._stream_draws(1, 1)
        return self

    # ---- tables
    def _flag_tables(self, shift):
        """Nearest codes and the saturation bound for g + p = ``shift``, from the reference.

        The quantizer sees only y = |x| * 2^(g+p), so phase 1 with g shares the tables of
        phase 0 with g + 1 (TPR's two quantizations of one tensor often share all of them).
        The flags need no table: ``invalid`` is an exponent field of 31, and ``saturated``
        (y > 64, finite) holds exactly for the magnitude patterns above the largest
        unsaturated one, FP16 magnitudes being ordered like their bit patterns.
        """
        key = shift
        if key not in self._flags:
            phase = 0 if shift <= SCALE_EXP_MAX else 1
            res = r4_quantize(np.arange(65536, dtype=np.uint16).view(np.float16), phase=phase,
                              scale_exp=shift - phase, flags=True)
            mag = np.arange(65536, dtype=np.int64) & 0x7FFF
            bound = int(np.count_nonzero(~res.saturated[:0x7C00])) - 1
            if not (np.array_equal(res.invalid, mag >= 0x7C00) and np.array_equal(
                    res.saturated, (mag > bound) & (mag < 0x7C00))):
                raise AssertionError("R4 flags are not ordered by FP16 magnitude")
            self._near[key] = res.codes
            self._flags[key] = bound
        return self._flags[key]

    def _stochastic_tables(self, shift):
        """One entry per FP16 pattern (:func:`_stochastic_entries`) of
        :func:`golden.formats.r4_stochastic_choice` at g + p = ``shift``."""
        if shift not in self._stoch:
            fields = fp16_fields(np.arange(65536, dtype=np.uint16).view(np.float16))
            down, up, threshold = r4_stochastic_choice(fields, shift)
            self._stoch[shift] = _stochastic_entries(threshold, down, up)
        return self._stoch[shift]

    def _stream_draws(self, seed: int, n: int) -> np.ndarray:
        """The 16-bit draws (top halves of the first ``n`` xorshift32 outputs) from ``seed``."""
        return self._streams((seed,), n)[0]

    def _streams(self, seeds, n: int) -> np.ndarray:
        """(len(seeds), n): the draws of :meth:`_stream_draws` for several seeds, one gather."""
        if self._stream_high is None:
            tables = _xorshift_tables()
            self._stream_jump = [[int(v) for v in t[:, -1]] for t in tables]
            # Row 256 j + v: the draws of the block that starts at seed v << 8j.
            self._stream_high = (tables >> 16).astype(np.uint16).reshape(4 * 256, XORSHIFT_BLOCK)
        j0, j1, j2, j3 = self._stream_jump
        nblk = -(-n // XORSHIFT_BLOCK)
        rows = []
        for seed in seeds:
            s = int(seed)
            for _ in range(nblk):
                rows += (s & 255, 256 | s >> 8 & 255, 512 | s >> 16 & 255, 768 | s >> 24)
                s = j0[s & 255] ^ j1[s >> 8 & 255] ^ j2[s >> 16 & 255] ^ j3[s >> 24]
        parts = np.take(self._stream_high, rows, axis=0).reshape(len(seeds), nblk, 4,
                                                                  XORSHIFT_BLOCK)
        return np.bitwise_xor.reduce(parts, axis=2).reshape(len(seeds), -1)[:, :n]

    def _value_table(self, fmt, phase):
        spec = format_of(fmt)
        key = (spec.fmt, phase if spec.phased else 0)
        if key not in self._values:
            self._values[key] = spec.grid(key[1]).astype(np.float32)
        return self._values[key]

    def _decode(self, codes, fmt, phase):
        """Checked 4-bit codes (uint8, 2-D, 0..15) -> their exact float32 operand values."""
        grid = format_of(fmt).grid(phase)
        if np.array_equal(grid, _CODES):          # the code itself (UINT4)
            return codes.astype(np.float32)
        if np.array_equal(grid, _CODES_TWOS):     # the code sign-extended (INT4)
            v = (codes ^ np.uint8(8)).astype(np.float32)
            v -= np.float32(8)
            return v
        # Any other grid (R4): two adjacent codes (one uint16) -> two float32 values (one
        # uint64) per lookup.
        if codes.flags.f_contiguous and not codes.flags.c_contiguous:
            return self._decode(codes.T, fmt, phase).T
        if not codes.flags.c_contiguous or codes.shape[1] % 2:
            return np.take(self._value_table(fmt, phase), codes)
        key = (fmt, phase)
        if key not in self._pairs:
            pair = np.arange(65536, dtype=np.uint16).view(np.uint8).reshape(-1, 2) & 15
            self._pairs[key] = np.ascontiguousarray(
                self._value_table(fmt, phase)[pair]).view(np.uint64).reshape(-1)
        return np.take(self._pairs[key], codes.view(np.uint16)).view(np.float32)

    def _k_limit(self, a_format, b_format, acc_width) -> int:
        """Largest K the float32 GEMM serves exactly without any possible saturation (or -1)."""
        key = (a_format, b_format, acc_width)
        if key not in self._k_limits:
            if (a_format not in A_FORMATS or b_format not in B_FORMATS
                    or not passes(check_acc_width, acc_width)):
                return -1
            # Every partial sum must be an integer below 2^24 in magnitude (exact in float32)
            # and within the accumulator (the reference's saturation semantics never apply).
            exact = (2 ** 24 - 1) // gemm_mod.max_product(a_format, b_format)
            self._k_limits[key] = min(exact, gemm_mod.max_safe_k(a_format, b_format, acc_width))
        return self._k_limits[key]

    def _gemm_is_fast(self, a, b, a_format, b_format, phase, acc_width) -> bool:
        """Whether the float32 GEMM serves these checked code arrays (else: the reference)."""
        return (a.shape[1] <= self._k_limit(a_format, b_format, acc_width)
                and a.shape[1] == b.shape[0] and passes(check_phase, phase)
                and not (a.size and a.max() > 15) and not (b.size and b.max() > 15))

    # ---- the interface
    def quantize_grad(self, fp16, *, phase, scale_exp, rounding, seed):
        h = check_crossing("fp16", fp16, np.float16)
        if rounding not in ROUNDINGS:
            raise ValueError(f"rounding must be 'nearest' or 'stochastic', not {rounding!r}")
        if not (passes(check_phase, phase) and passes(check_scale_exp, scale_exp)):
            # Invalid phase or scale exponent: the reference's error.
            return r4_quantize(h, phase=phase, scale_exp=scale_exp, rounding=rounding,
                               seed=seed, flags=True)
        if h.ndim == 0:                    # (np.ascontiguousarray below would make it 1-D)
            return R4Result(*(r.reshape(()) for r in self.quantize_grad(
                h.reshape(1), phase=phase, scale_exp=scale_exp, rounding=rounding, seed=seed)))
        shift = int(scale_exp) + int(phase)
        bound = self._flag_tables(shift)
        bits = np.ascontiguousarray(h).view(np.uint16)
        if rounding == "nearest":
            if seed is not None:
                raise ValueError("seed is only meaningful with rounding='stochastic'")
            codes = np.take(self._near[shift], bits)
        else:
            s = _checked_seed(seed)
            e = np.take(self._stochastic_tables(shift), bits)
            codes = _select_codes(e, self._stream_draws(s, bits.size).reshape(bits.shape))
        mag = bits & np.uint16(0x7FFF)
        return R4Result(codes, mag >= np.uint16(0x7C00), _saturated(mag, bound))

    def quantize_grad_tpr(self, fp16, *, scale_exp, rounding, seeds):
        """Both TPR phases in one pass: one gather from a two-row table of the phase-0 and
        phase-1 entries, one gather for both random streams, one FP16 magnitude for the flags.
        """
        h = check_crossing("fp16", fp16, np.float16)
        s0, s1 = check_seed_pair(seeds)
        if (rounding not in ROUNDINGS or not passes(check_scale_exp, scale_exp)
                or (rounding == "nearest" and (s0, s1) != (None, None))):
            # Every error is quantize_grad's.
            return super().quantize_grad_tpr(h, scale_exp=scale_exp, rounding=rounding,
                                             seeds=seeds)
        g = int(scale_exp)
        bounds = (self._flag_tables(g), self._flag_tables(g + 1))
        flat = np.ascontiguousarray(h).view(np.uint16).reshape(-1)
        if rounding == "nearest":
            if g not in self._tpr_near:
                self._tpr_near[g] = np.stack([self._near[g], self._near[g + 1]])
            codes = np.take(self._tpr_near[g], flat, axis=1)
        else:
            s = (_checked_seed(s0), _checked_seed(s1))
            if g not in self._tpr_stoch:
                self._tpr_stoch[g] = np.stack([self._stochastic_tables(g),
                                               self._stochastic_tables(g + 1)])
            e = np.take(self._tpr_stoch[g], flat, axis=1)
            codes = _select_codes(e, self._streams(s, flat.size))
        mag = flat & np.uint16(0x7FFF)
        invalid = mag >= np.uint16(0x7C00)
        out = []
        for p, bound in enumerate(bounds):
            out.append(R4Result(codes[p].reshape(h.shape),
                                (invalid.copy() if p else invalid).reshape(h.shape),
                                _saturated(mag, bound).reshape(h.shape)))
        return out[0], out[1]

    def gemm(self, a_codes, b_codes, *, a_format, b_format, phase, acc_width):
        a = check_crossing("a_codes", a_codes, np.uint8, 2)
        b = check_crossing("b_codes", b_codes, np.uint8, 2)
        if not self._gemm_is_fast(a, b, a_format, b_format, phase, acc_width):
            # The general case (saturation, and every error message) is the reference's.
            return gemm_mod.gemm(a, b, a_format=a_format, b_format=b_format, phase=phase,
                                 acc_width=acc_width, flags=True)
        image = self._decode(a, a_format, phase) @ self._decode(b, b_format, phase)
        acc = image.astype(np.int64)
        # Handed out read-only and remembered with its float32 image: the read-out of exactly
        # this array (a training step's next call) then needs no pass over the int64 values.
        acc.flags.writeable = False
        self._image = (acc, image)
        return gemm_mod.GemmResult(acc, np.zeros(acc.shape, dtype=bool))

    def readout(self, acc, *, exp_offset):
        a = check_crossing("acc", acc, np.int64)
        image, self._image = self._image, None
        if not passes(check_int_in_range, "exp_offset", exp_offset, *_FAST_OFFSETS) or not a.size:
            return gemm_mod.readout(a, exp_offset=exp_offset, flags=True)
        off = int(exp_offset)
        if image is not None and image[0] is a:     # our own, unmodified (read-only) result
            f = image[1]
            top = max(float(f.max()), -float(f.min()))
        else:
            f = None
            top = max(int(a.max()), -int(a.min()))
        if top >= 2 ** 24 or top * 2.0 ** off >= 65520:
            # Beyond float32's exact integers, or some result saturates: the general path.
            return self._readout_general(a, off)
        if f is None:
            f = a.astype(np.int32).astype(np.float32)
        return gemm_mod.ReadoutResult(self._round_image(f, off), np.zeros(a.shape, dtype=bool))

    @staticmethod
    def _round_image(f, off):
        """FP16 values RNE(acc * 2^off) from the float32 image ``f`` of the accumulators (an
        exact integer below 2^24 in magnitude, no result saturating); overwrites ``f``."""
        # acc * 2^(off - 112) is exact in float32 (|acc| < 2^24; off >= -37 keeps it a multiple
        # of 2^-149, float32's smallest step), and its bit pattern is the FP16 pattern of
        # acc * 2^off shifted left by 13, FP16 subnormals included: rounding away the low 13
        # bits (ties to even) is the read-out's one RNE step.
        f *= np.float32(2.0 ** (off - 112))
        b = f.view(np.int32)
        # Copy the sign into bits 28..30 (zero in any magnitude below 2^16 * 2^-112), so that it
        # lands in bit 15 after the shift.
        s = b >> 31
        s &= 0x70000000
        b |= s
        r = b >> 13
        r &= 1
        r += b
        r += 0xFFF
        r >>= 13
        return r.astype(np.uint16).view(np.float16)

    def gemm_readout(self, a_codes, b_codes, *, a_format, b_format, phase, acc_width,
                     exp_offset):
        """The read-out straight from the GEMM's float32 image: no int64 accumulators."""
        a = check_crossing("a_codes", a_codes, np.uint8, 2)
        b = check_crossing("b_codes", b_codes, np.uint8, 2)
        if (not passes(check_int_in_range, "exp_offset", exp_offset, *_FAST_OFFSETS) or not a.shape[0] * b.shape[1]
                or not self._gemm_is_fast(a, b, a_format, b_format, phase, acc_width)):
            return super().gemm_readout(a, b, a_format=a_format, b_format=b_format, phase=phase,
                                        acc_width=acc_width, exp_offset=exp_offset)
        # As in gemm and readout: K within the limit keeps every accumulator exact and unsaturated.
        f = self._decode(a, a_format, phase) @ self._decode(b, b_format, phase)
        off = int(exp_offset)
        flags = np.zeros(f.shape, dtype=bool)
        # K times the largest product bounds every |acc| (phase 1's R4 values are the smaller):
        # below 65520 after scaling, no result saturates and the extremes need no pass.
        if (a.shape[1] * gemm_mod.max_product(a_format, b_format) * 2.0 ** off >= 65520
                and max(float(f.max()), -float(f.min())) * 2.0 ** off >= 65520):
            return GemmReadout(flags, self._readout_general(f.astype(np.int64), off))
        return GemmReadout(flags, gemm_mod.ReadoutResult(self._round_image(f, off),
                                                         flags.copy()))

    @staticmethod
    def _readout_general(a, off):
        if not -100 <= off <= 100 or max(int(a.max()), -int(a.min())) >= 2 ** 24:
            return gemm_mod.readout(a, exp_offset=off, flags=True)
        # |acc| < 2^24 is exact in float32, and so is the power-of-two scaling (no float32
        # underflow or overflow for |offset| <= 100); the FP16 conversion is the one RNE step.
        h = fp16_from_f32(a.astype(np.float32) * np.float32(2.0 ** off))
        bits = h.view(np.uint16)
        over = (bits & 0x7FFF) == 0x7C00
        if over.any():
            h = np.where(over, bits & 0x8000 | 0x7BFF, bits).astype(np.uint16).view(np.float16)
        return gemm_mod.ReadoutResult(h, over)

    def gemm_fp16(self, a_codes, b_codes, *, a_format, b_format, phase, exp_offset):
        a = check_crossing("a_codes", a_codes, np.uint8, 2)
        b = check_crossing("b_codes", b_codes, np.uint8, 2)
        if (a_format not in A_FORMATS or b_format not in B_FORMATS
                or a.shape[1] != b.shape[0] or not passes(check_phase, phase)
                or not passes(check_int_in_range, "exp_offset", exp_offset, -90, 90) or (a.size and a.max() > 15)
                or (b.size and b.max() > 15)):
            return gemm_mod.gemm_fp16(a, b, a_format=a_format, b_format=b_format, phase=phase,
                                      exp_offset=exp_offset, flags=True)
        # Products (<= 2^17 * 2^90) are exact in float32; a float32 sum of two FP16 values
        # rounded again to FP16 equals the single rounding, since 24 >= 2 * 11 + 2 (double
        # rounding is innocuous for addition at that precision gap).
        av = np.take(self._value_table(a_format, phase), a) * np.float32(2.0 ** int(exp_offset))
        bv = np.take(self._value_table(b_format, phase), b)
        top = np.float32(gemm_mod.FP16_MAX)
        # Products with at most 8 significant bits are FP16 values already unless they leave
        # FP16's range: round them only when some code pair needs it.
        pairs = np.outer(self._value_table(a_format, phase), self._value_table(b_format, phase))
        pairs *= np.float32(2.0 ** int(exp_offset))
        with np.errstate(over="ignore"):
            exact = bool((round_f32_to_fp16(pairs) == pairs).all())
        acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.float32)
        overflow = np.zeros(acc.shape, dtype=bool)
        mask_hi = np.uint32(0xFFFFE000)
        for k in range(a.shape[1]):
            prod = np.outer(av[:, k], bv[k])
            if not exact:
                with np.errstate(over="ignore"):
                    prod = round_f32_to_fp16(prod)
                big = np.abs(prod) > top
                if big.any():
                    overflow |= big
                    prod = np.clip(prod, -top, top)
            s = acc + prod
            bits = s.view(np.uint32)
            mag = bits & 0x7FFFFFFF
            small = (mag < 0x38800000).any()
            # RNE to 11 significant bits on the float32 pattern (carry into the exponent is
            # the correct rounding up), then the FP16-subnormal and overflow cases if present.
            acc = ((bits + 0xFFF + ((bits >> 13) & 1)) & mask_hi).view(np.float32)
            if small:
                sub = mag < 0x38800000
                acc = np.where(sub, np.rint(s * np.float32(2.0 ** 24)) * np.float32(2.0 ** -24),
                               acc)
            if mag.max() >= 0x477FF000:             # |s| >= 65520 rounds past 65504
                big = np.abs(acc) > top
                overflow |= big
                acc = np.clip(acc, -top, top)
        return gemm_mod.Fp16GemmResult(fp16_from_f32(acc), overflow)
