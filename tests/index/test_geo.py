from __future__ import annotations

import math
import random
import subprocess
import sys
import threading

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from index import geo
from index.model import Area, Location
from index.synthetic import offset

latitudes = st.floats(-89.0, 89.0)
longitudes = st.floats(-180.0, 180.0)


@settings(max_examples=400)
@given(latitudes, longitudes, st.floats(0.0, geo.MAX_RADIUS_M), st.floats(0.0, 360.0))
def test_every_point_within_the_radius_lies_in_the_query_disk(
    lat: float, lon: float, metres: float, bearing: float
) -> None:
    there = offset(Location(lat, lon), metres, bearing)
    assert geo.cell_of(there.lat, there.lon) in set(geo.disk_cells(lat, lon))


@given(latitudes, longitudes, st.floats(0.0, 50_000.0), st.floats(0.0, 360.0))
def test_haversine_agrees_with_the_offset_it_inverts(
    lat: float, lon: float, metres: float, bearing: float
) -> None:
    there = offset(Location(lat, lon), metres, bearing)
    assert math.isclose(geo.distance_m(Location(lat, lon), there), metres, abs_tol=0.05)


def test_areas_contain_inner_points_only() -> None:
    lab = Area.box(10.0, 20.0, 10.01, 20.01)
    triangle = Area((Location(0, 0), Location(0, 0.02), Location(0.02, 0)))
    areas = geo.AreaIndex([(5, lab), (9, triangle)])
    assert len(areas) == 2
    assert areas.containing(10.005, 20.005) == [5]
    assert areas.containing(10.02, 20.005) == []
    assert areas.containing(0.004, 0.004) == [9]
    assert areas.containing(0.015, 0.015) == []
    assert areas.containing(-40.0, 100.0) == []
    assert geo.AreaIndex([]).containing(10.005, 20.005) == []


@settings(max_examples=300)
@given(
    st.floats(-80.0, 80.0),
    st.floats(-179.0, 179.0),
    st.floats(0.0, 0.05),
    st.floats(0.0, 0.05),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)
def test_every_point_of_an_area_passes_its_hint_cells(  # noqa: PLR0917
    south: float, west: float, height: float, width: float, up: float, across: float
) -> None:
    """The coarse cells that let most queries skip the R-tree never hide an area, however
    small, thin or large the area is (a box with no width included)."""
    site = Area.box(south, west, south + height, west + width)
    areas = geo.AreaIndex([(3, site)])
    assert areas.containing(south + up * height, west + across * width) in ([3], [])
    inner = (south + (0.05 + 0.9 * up) * height, west + (0.05 + 0.9 * across) * width)
    if height > 1e-6 and width > 1e-6:
        assert areas.containing(*inner) == [3]


def test_haversine_vectorised_matches_scalar() -> None:
    lats = np.array([0.0, 45.0, -33.9])
    lons = np.array([0.0, 7.0, 151.2])
    many = geo.haversine_m(48.85, 2.35, lats, lons)
    for i in range(3):
        one = geo.distance_m(Location(48.85, 2.35), Location(lats[i], lons[i]))
        assert math.isclose(many[i], one)


def hammer_areas_from_threads(threads: int = 8, rounds: int = 2) -> int:
    """Concurrent AreaIndex queries; the number of answers that differ from a lone thread's."""
    rng = random.Random(1)
    boxes = []
    for i in range(3000):
        lat, lon = 31.2 + rng.uniform(-0.1, 0.1), 121.4 + rng.uniform(-0.1, 0.1)
        boxes.append((i, Area.box(lat, lon, lat + 0.01, lon + 0.01)))
    areas = geo.AreaIndex(boxes)
    points = [(31.2 + rng.uniform(-0.1, 0.1), 121.4 + rng.uniform(-0.1, 0.1)) for _ in range(2000)]
    expected = [areas.containing(*p) for p in points]
    wrong: list[int] = []

    def query() -> None:
        for _ in range(rounds):
            wrong.extend(
                1 for p, e in zip(points, expected, strict=True) if areas.containing(*p) != e
            )

    workers = [threading.Thread(target=query) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(wrong)


def test_area_queries_from_many_threads_neither_crash_nor_disagree() -> None:
    # In a child process: without the lock, libspatialindex crashes the whole process.
    code = "from tests.index.test_geo import hammer_areas_from_threads as h; print(h())"
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"
