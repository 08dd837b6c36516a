"""Geometry: H3 cells as candidate keys for points, an R-tree for incident areas, haversine metres.

This is the only module that imports h3 (the integer-cell API) or rtree. Points are looked up
through their H3 cell in the snapshot's postings: a query point's disk of cells holds every
incident point within MAX_RADIUS_M, and the exact distance then decides. Areas (a lab compound,
an industrial zone) live in an R-tree with one fixed convention: interleaved boxes as
(min_lon, min_lat, max_lon, max_lat).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping

import h3.api.basic_int as h3
import numpy as np
import numpy.typing as npt
from rtree import index as rtree_index

from index.model import Area, Location

CELL_RESOLUTION = 9  # street-block cells, ~0.1 km² each
DISK_K = 2
# Nowhere on the globe did a point leave its grid_disk(k=2) at resolution 9 within ~400 m
# (tests/index/test_geo.py samples it); the scoring radius stays well inside that.
MAX_RADIUS_M = 300.0
# Cells (~0.7 km² each) that overlap an area's box, and their neighbours, mark where areas
# are, so that most queries skip the R-tree call (and its lock) altogether.
AREA_HINT_RESOLUTION = 8
EARTH_RADIUS_M = 6_371_008.8

FloatArray = npt.NDArray[np.float64]
UIntArray = npt.NDArray[np.uint64]


def cell_of(lat: float, lon: float) -> int:
    return int(h3.latlng_to_cell(lat, lon, CELL_RESOLUTION))


def disk_cells(lat: float, lon: float) -> list[int]:
    """Every cell that may hold a point within MAX_RADIUS_M of (lat, lon)."""
    return list(h3.grid_disk(h3.latlng_to_cell(lat, lon, CELL_RESOLUTION), DISK_K))


def haversine_m(lat: float, lon: float, lats: FloatArray, lons: FloatArray) -> FloatArray:
    """Great-circle metres from one point to many."""
    phi1 = math.radians(lat)
    phi2 = np.radians(lats)
    dphi = phi2 - phi1
    dlmb = np.radians(lons) - math.radians(lon)
    a = np.sin(dphi / 2) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0))), np.float64)


def haversine_pairs_m(
    lats1: FloatArray, lons1: FloatArray, lats2: FloatArray, lons2: FloatArray
) -> FloatArray:
    """Great-circle metres between paired points (NaN where either is missing)."""
    phi1, phi2 = np.radians(lats1), np.radians(lats2)
    a = (
        np.sin((phi2 - phi1) / 2) ** 2
        + np.cos(phi1) * np.cos(phi2) * np.sin((np.radians(lons2) - np.radians(lons1)) / 2) ** 2
    )
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0))), np.float64)


def point_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """haversine_m for one pair of points, without NumPy's per-call cost."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(a, 1.0)))


def distance_m(a: Location, b: Location) -> float:
    return point_distance_m(a.lat, a.lon, b.lat, b.lon)


def _contains(vertices: FloatArray, lat: float, lon: float) -> bool:
    """Ray casting in the lat/lon plane (vertices as rows of lat, lon): exact enough for sites
    a few kilometres across. Plain Python: areas have a handful of vertices, too few for
    NumPy's per-call cost to pay off."""
    inside = False
    points = vertices.tolist()
    prev_lat, prev_lon = points[-1]
    for v_lat, v_lon in points:
        if (v_lat > lat) != (prev_lat > lat):
            crossing_lon = v_lon + (lat - v_lat) * (prev_lon - v_lon) / (prev_lat - v_lat)
            if lon < crossing_lon:
                inside = not inside
        prev_lat, prev_lon = v_lat, v_lon
    return inside


def _bounds(area: Area) -> tuple[float, float, float, float]:  # west, south, east, north
    lats = [v.lat for v in area.vertices]
    lons = [v.lon for v in area.vertices]
    return min(lons), min(lats), max(lons), max(lats)


Box = tuple[float, float, float, float]  # the R-tree's convention: west, south, east, north


def _hint_cells(box: Box) -> set[int]:
    """Cells that overlap a box, and the ring around them: H3 and the box draw their edges a
    little differently, and the ring makes up for it."""
    west, south, east, north = box
    outline = h3.LatLngPoly([(south, west), (south, east), (north, east), (north, west)])
    overlapping = set(h3.polygon_to_cells_experimental(outline, AREA_HINT_RESOLUTION, "overlap"))
    # A box with no width or height overlaps nothing in H3's eyes: its corners' cells do.
    overlapping |= {
        h3.latlng_to_cell(lat, lon, AREA_HINT_RESOLUTION)
        for lat in (south, north)
        for lon in (west, east)
    }
    cells: set[int] = set()
    for cell in overlapping:
        cells.update(h3.grid_disk(cell, 1))
    return cells


class AreaIndex:
    """Incident parties recorded as areas; answers which areas contain a point.

    Vertices are kept in NumPy arrays, not as the incidents' objects, so that a snapshot holds
    no Python objects per incident. libspatialindex is not thread-safe even for queries (they
    share a memory pool; concurrent ones crash the process), so queries take a lock."""

    def __init__(self, areas: Iterable[tuple[int, Area]]) -> None:
        vertices: dict[int, FloatArray] = {}
        boxes: dict[int, Box] = {}
        for party_id, area in areas:
            vertices[party_id] = np.array([(v.lat, v.lon) for v in area.vertices])
            boxes[party_id] = _bounds(area)
        hints = {cell for box in boxes.values() for cell in _hint_cells(box)}
        self._load(vertices, boxes, np.array(sorted(hints), np.uint64))

    def _load(
        self, vertices: dict[int, FloatArray], boxes: dict[int, Box], hints: UIntArray
    ) -> None:
        self._vertices = vertices
        self._hints = hints
        self._tree: rtree_index.Index | None = None
        self._tree_lock = threading.Lock()
        if boxes:
            stream = ((party_id, box, None) for party_id, box in boxes.items())
            self._tree = rtree_index.Index(stream, interleaved=True)

    def columns(self) -> dict[str, npt.NDArray[np.generic]]:
        """The index as flat arrays (`from_columns` restores it, without recomputing hints)."""
        party_ids = np.array(list(self._vertices), np.int32)
        counts = np.array([len(v) for v in self._vertices.values()], np.int64)
        flat = (
            np.concatenate(list(self._vertices.values()))
            if self._vertices
            else np.empty((0, 2), np.float64)
        )
        return {"party_ids": party_ids, "vertex_counts": counts, "vertices": flat,
                "hints": self._hints}  # fmt: skip

    @classmethod
    def from_columns(cls, columns: Mapping[str, npt.NDArray[np.generic]]) -> AreaIndex:
        party_ids = columns["party_ids"].tolist()
        flat = np.asarray(columns["vertices"], np.float64).reshape(-1, 2)
        ends = np.cumsum(columns["vertex_counts"]).tolist()
        if len(party_ids) != len(ends) or (ends and ends[-1] != len(flat)):
            raise ValueError("area columns disagree in length")
        vertices: dict[int, FloatArray] = {}
        boxes: dict[int, Box] = {}
        start = 0
        for party_id, end in zip(party_ids, ends, strict=True):
            polygon = flat[start:end]
            vertices[party_id] = polygon
            south, west = polygon.min(axis=0).tolist()
            north, east = polygon.max(axis=0).tolist()
            boxes[party_id] = (west, south, east, north)
            start = end
        index = cls.__new__(cls)
        index._load(vertices, boxes, np.asarray(columns["hints"], np.uint64))
        return index

    def __len__(self) -> int:
        return len(self._vertices)

    def containing(self, lat: float, lon: float) -> list[int]:
        """Party ids of the areas that contain the point, in ascending order."""
        if self._tree is None:
            return []
        hint = np.uint64(h3.latlng_to_cell(lat, lon, AREA_HINT_RESOLUTION))
        at = int(np.searchsorted(self._hints, hint))
        if at == len(self._hints) or self._hints[at] != hint:
            return []
        with self._tree_lock:
            hits = list(self._tree.intersection((lon, lat, lon, lat)))
        return sorted(p for p in hits if _contains(self._vertices[p], lat, lon))
