"""fill_holes labels the background once per plane (not a dilation per object) and gives, bit for bit, what
``scipy.ndimage.binary_fill_holes`` and the former per-object implementation gave."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from traced_memory import traced_peak

from labelfree import labels as L


def _reference(arr: np.ndarray) -> np.ndarray:
    """The straightforward implementation: scipy's fill of the mask; for labels, each object's own holes
    filled in its bounding box (background only, in label order), plane by plane."""
    arr = np.asarray(arr)
    if arr.ndim > 2:
        return np.stack([_reference(p) for p in arr.reshape((-1,) + arr.shape[-2:])]).reshape(arr.shape)
    if arr.dtype == bool:
        return ndi.binary_fill_holes(arr)
    out = arr.copy()
    ids = np.unique(arr)  # ascending; ids numbered 0..N-1 for find_objects (huge ids too)
    for k, sl in enumerate(ndi.find_objects(np.searchsorted(ids, arr).astype(np.int64) + 1)):
        idx = ids[k]
        if idx == 0:
            continue
        filled = ndi.binary_fill_holes(arr[sl] == idx)
        out[sl][filled & (arr[sl] == 0)] = idx
    return out


def _same(got: np.ndarray, arr: np.ndarray) -> None:
    want = _reference(arr)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} pixels differ"


SHAPES = [(1, 1), (1, 9), (9, 1), (2, 2), (3, 3), (4, 7), (17, 13), (40, 64)]


@pytest.mark.parametrize("shape", SHAPES)
def test_random_masks_fill_as_scipy(shape):
    rng = np.random.default_rng(sum(shape))
    for density in (0.0, 0.3, 0.55, 0.7, 0.85, 1.0):
        for _ in range(12):
            mask = rng.random(shape) < density
            got = L.fill_holes(mask)
            assert got.dtype == bool
            assert np.array_equal(got, ndi.binary_fill_holes(mask)), (shape, density)


def _random_labels(rng: np.random.Generator, shape: tuple[int, int], dtype: type, *, huge: bool = False):
    """Rings, blobs and specks with random ids, overlapping each other (nested, touching, at the border)."""
    lab = np.zeros(shape, dtype)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    top = 4_000_000_000 if huge else int(np.iinfo(dtype).max) if rng.random() < 0.3 else 12
    for _ in range(rng.integers(1, 9)):
        cy, cx = rng.uniform(-3, shape[0] + 3), rng.uniform(-3, shape[1] + 3)
        r = rng.uniform(1, max(shape) / 2 + 1)
        d = np.hypot(yy - cy, xx - cx)
        kind = rng.integers(3)
        part = (d < r) & (d >= r * rng.uniform(0.3, 0.8)) if kind == 0 else d < r if kind == 1 else (
            rng.random(shape) < 0.6) & (d < r)
        lab[part] = rng.integers(1, top, endpoint=True)
    return lab


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32])
def test_random_label_images_fill_as_the_per_object_reference(dtype):
    rng = np.random.default_rng(7)
    for shape in SHAPES + [(31, 29), (64, 48)] * 15:
        lab = _random_labels(rng, shape, dtype)
        _same(L.fill_holes(lab), lab)


def test_huge_sparse_ids_fill_as_the_reference():
    rng = np.random.default_rng(3)
    for _ in range(20):
        lab = _random_labels(rng, (40, 50), np.uint32, huge=True)
        _same(L.fill_holes(lab), lab)


def test_nested_objects_keep_their_ids():
    """An outer ring (id 5) around an inner ring (id 2) around a hole: the gap between them is the outer
    ring's, the hole inside both takes the larger id; a ring cut open by the border fills nothing."""
    lab = np.zeros((13, 13), np.uint16)
    lab[1:12, 1:12] = 5
    lab[2:11, 2:11] = 0
    lab[4:9, 4:9] = 2
    lab[5:8, 5:8] = 0
    lab[6, 6] = 3  # a speck inside the inner hole keeps its id
    out = L.fill_holes(lab)
    assert out[3, 3] == 5 and out[5, 5] == 5 and out[6, 6] == 3 and (out[4:9, 4:9][lab[4:9, 4:9] == 2] == 2).all()
    _same(out, lab)
    cut = np.zeros((6, 6), np.uint16)
    cut[:4, :4] = 1
    cut[:2, 1:3] = 0  # open to the top border
    assert np.array_equal(L.fill_holes(cut), cut)
    inner_larger = np.where(lab == 5, 1, lab).astype(np.uint16)  # outer id 1, inner 2
    assert L.fill_holes(inner_larger)[5, 5] == 2
    _same(L.fill_holes(inner_larger), inner_larger)


@pytest.mark.parametrize("dtype", [bool, np.uint16, np.uint32])
def test_empty_full_and_stacks(dtype):
    for shape in [(1, 1), (1, 6), (6, 6)]:
        for value in (0, 1):
            arr = np.full(shape, value, dtype)
            _same(L.fill_holes(arr), arr)
    for shape in [(0, 5), (5, 0), (0, 4, 4), (3, 0, 4)]:  # nothing to fill (label images and stacks raised)
        got = L.fill_holes(np.zeros(shape, dtype))
        assert got.shape == shape and got.dtype == dtype
    rng = np.random.default_rng(11)
    stack = np.stack([_random_labels(rng, (30, 40), np.uint16) for _ in range(6)]).reshape(2, 3, 30, 40)
    stack = stack.astype(dtype) if dtype is not bool else stack > 0
    got = L.fill_holes(stack)
    assert got.flags.c_contiguous
    _same(got, stack)
    view = stack[:, :, ::-1, :].transpose(1, 0, 2, 3)  # not contiguous: filled plane by plane all the same
    _same(L.fill_holes(view), view)


def _real_frames(shared_data):
    pytest.importorskip("imagecodecs", reason="the CTC TIFFs are LZW-compressed")
    import tifffile

    folder = shared_data / "ctc" / "Fluo-C2DL-MSC" / "01"
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return [tifffile.imread(folder / f"t{t:03d}.tif") for t in (0, 20, 47)], folder.parent / "01_GT" / "SEG"


def test_real_masks_and_labels_fill_as_the_reference(shared_data):
    """Thresholded MSC frames (ragged whole-cell masks with many holes), their connected components as
    labels, and the manual masks: the same pixels as scipy / the per-object fill."""
    from skimage.filters import threshold_otsu

    frames, seg = _real_frames(shared_data)
    n_holes = 0
    for frame in frames:
        smooth = ndi.gaussian_filter(frame.astype(np.float32), 1)
        for level in (threshold_otsu(smooth), np.percentile(smooth, 60)):
            mask = smooth > level
            got = L.fill_holes(mask)
            assert np.array_equal(got, ndi.binary_fill_holes(mask))
            n_holes += int(np.count_nonzero(got & ~mask))
            lab = ndi.label(mask)[0].astype(np.uint16)
            _same(L.fill_holes(lab), lab)
    assert n_holes > 100  # the masks had holes to fill
    import tifffile

    for path in sorted(seg.glob("man_seg*.tif"))[:3]:
        truth = tifffile.imread(path).astype(np.uint16)
        _same(L.fill_holes(truth), truth)


def _counted_scipy_calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count the labellings and hole fills that labelfree.labels asks scipy for (the work, not the time)."""
    calls = {"label": 0, "binary_fill_holes": 0}
    for name in calls:
        real = getattr(ndi, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(L.ndi, name, counted)
    return calls


def test_many_objects_cost_about_one_fill_of_their_mask(monkeypatch):
    """2,500 objects, one with a hole: the label image is filled with a few labellings of the background, not
    one fill per object (the former cost: 2,500 fills)."""
    lab = np.zeros((600, 600), np.uint16)
    k = 0
    for y in range(2, 598, 12):
        for x in range(2, 598, 12):
            k += 1
            lab[y:y + 8, x:x + 8] = k
    lab[5:7, 5:7] = 0
    calls = _counted_scipy_calls(monkeypatch)
    out = L.fill_holes(lab)
    assert out[5, 5] == 1 and np.count_nonzero(out != lab) == 4
    assert calls["label"] + calls["binary_fill_holes"] <= 4, calls


def test_stack_is_filled_in_place_of_a_list_of_planes():
    """The result is written plane by plane into one array: the former list of filled planes plus their
    stacked copy held twice the result."""
    rng = np.random.default_rng(5)
    stack = rng.random((48, 128, 128)) < 0.7
    out, peak = traced_peak(L.fill_holes, stack)
    assert np.array_equal(out, _reference(stack))
    assert peak < 1.5 * out.nbytes, (peak, out.nbytes)


def test_a_mask_plane_is_filled_by_one_labelling_of_its_background(monkeypatch):
    """A 1024 x 1024 mask of blobs with holes: one labelling of the background per plane (about 3x faster than
    scipy's repeated dilations: benchmarks/fill_merge.py), with scipy's result."""
    rng = np.random.default_rng(2)
    noise = ndi.gaussian_filter(rng.random((1024, 1024)), 4)
    mask = noise > np.quantile(noise, 0.7)
    calls = _counted_scipy_calls(monkeypatch)
    out = L.fill_holes(mask)
    assert calls == {"label": 1, "binary_fill_holes": 0}, calls
    monkeypatch.undo()
    assert np.array_equal(out, ndi.binary_fill_holes(mask))
