from __future__ import annotations

import math

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


def test_haversine_vectorised_matches_scalar() -> None:
    lats = np.array([0.0, 45.0, -33.9])
    lons = np.array([0.0, 7.0, 151.2])
    many = geo.haversine_m(48.85, 2.35, lats, lons)
    for i in range(3):
        one = geo.distance_m(Location(48.85, 2.35), Location(lats[i], lons[i]))
        assert math.isclose(many[i], one)
