"""The largest square array that places on each device.

Largest array. The packed logic cells (and on ECP5 flip-flops) of the arrays placed so far,
wrapper included, are fitted with ``a + b * R * C`` (Yosys LUTs only without two such
points); the largest square array whose estimate fits is placed. If it fits, the next size
up is tried until one does not; if it does not, sizes step down until one fits, and if none
does down to 1x1 a warning is printed and recorded (``warnings``, ``largest_array: null``).
"""

import math

from hdl import registry
from synth.flow import FAMILIES, measure

ARRAY = "array_{rows}x{cols}"
#: The block-scaled FP4 arrays (MXFP4, NVFP4): R x C MACs per clock like :data:`ARRAY`, but
#: not the array the device search sizes.
MX_ARRAY = "mxfp4_array_{rows}x{cols}"
NV_ARRAY = "nvfp4_array_{rows}x{cols}"
BLOCK_ARRAYS = (MX_ARRAY, NV_ARRAY)

#: Accumulator width of every array measured.
ACC_WIDTH = 32


def array(size: int):
    return registry.build(ARRAY, rows=size, cols=size, acc_width=ACC_WIDTH)


def array_name(side: int) -> str:
    return registry.instance_name(ARRAY, rows=side, cols=side)


def pes(name: str) -> int:
    params = registry.parse(name)[1]
    return params["rows"] * params["cols"]


def is_array(name: str) -> bool:
    return registry.parse(name)[0].name == ARRAY


def is_mac_array(name: str) -> bool:
    """An array of one-MAC-per-clock PEs (4-bit, MXFP4, NVFP4): R x C MACs per clock."""
    return registry.parse(name)[0].name in (ARRAY, *BLOCK_ARRAYS)


def side_estimate(results: dict, family: str, log) -> int:
    """Largest square side whose estimated need fits the device, from the arrays measured.

    For every resource of ``fit_resources`` (logic cells; on ECP5 also flip-flops) with two
    array sizes that nextpnr packed (utilisation with the I/O wrapper, as placement needs it),
    ``icept + slope * R * C`` is fitted and solved for the device's count; the smallest side
    wins. Without two packed sizes it falls back to Yosys LUTs against the device's LUTs,
    which underestimates iCE40 (flip-flops and carries that cannot share a LUT's cell).
    """
    fam = FAMILIES[family]
    arrays = [(pes(n), r[family]) for n, r in results.items()
              if is_array(n) and family in r]
    series = {res: [(pes, r["utilization"][res]["used"]) for pes, r in arrays
                    if res in r.get("utilization", {})] for res in fam["fit_resources"]}
    series = {res: pts for res, pts in series.items() if len({p for p, _ in pts}) >= 2}
    if not series:
        pts = [(pes, r["luts"]) for pes, r in arrays]
        if len({p for p, _ in pts}) < 2:
            return 0
        series = {"LUT4 (Yosys)": pts}
    best = None
    for res, pts in series.items():
        mean_x = sum(p for p, _ in pts) / len(pts)
        mean_y = sum(n for _, n in pts) / len(pts)
        slope = (sum((p - mean_x) * (n - mean_y) for p, n in pts)
                 / sum((p - mean_x) ** 2 for p, _ in pts))
        icept = mean_y - slope * mean_x
        avail = next((r["utilization"][res]["available"] for _, r in arrays
                      if res in r.get("utilization", {})), fam["device_luts"])
        side = math.isqrt(max(int((avail - icept) / slope), 0))
        log(f"synth: {family}: {res}: {slope:.0f} per PE + {icept:.0f} of {avail}: "
            f"at most {side}x{side}")
        best = side if best is None else min(best, side)
    return best


def largest_array(results: dict, family: str, log) -> str | None:
    """Find the largest square array that places on the device; None (and a warning) if none.

    Starts from :func:`side_estimate`. If that size fits, one size up is tried too (and so on
    while they fit), so the answer is checked rather than estimated; if it does not fit, sizes
    step down until one fits. Sizes measured already are not placed again; a failed placement
    usually ends within seconds to a couple of minutes, a successful large one takes minutes.
    """
    def fits(side: int) -> bool:
        vname = array_name(side)
        result = results.get(vname, {}).get(family)
        if result is None:
            log(f"synth: {family}: {vname} (largest-array search)")
            result = measure(vname, array(side)[1], family, log=log)
            results.setdefault(vname, {})[family] = result
        return bool(result["fits"])

    side = max(side_estimate(results, family, log), 1)
    if fits(side):
        while fits(side + 1):
            side += 1
    else:
        side -= 1
        while side >= 1 and not fits(side):
            side -= 1
    if side < 1:
        return None
    name = array_name(side)
    results[name][family]["largest_fit"] = True
    log(f"synth: {family}: largest square array that places: {name} "
        f"({side + 1}x{side + 1} does not)")
    return name


def largest_square(results: dict, family: str, name: str, start: int, log) -> str | None:
    """The largest square size of registry entry ``name``, from ``start`` down, that places on
    ``family``'s device (None if not even 1x1 does); every size tried lands in ``results``.

    For a design that contains the array (the composed top), ``start`` is the largest array
    that placed: nothing larger can. A size over the device fails at packing, in seconds.
    """
    design = registry.get(name)
    for side in range(start, 0, -1):
        params = {"rows": side, "cols": side, "acc_width": ACC_WIDTH}
        vname = design.instance_name(**params)
        result = results.get(vname, {}).get(family)
        if result is None:
            log(f"synth: {family}: {vname} (largest size that places)")
            result = measure(vname, design.build(**params), family, log=log)
            results.setdefault(vname, {})[family] = result
        if result["fits"]:
            result["largest_fit"] = True
            return vname
    return None
