//! Geometry: H3 cells (h3o) as candidate keys for points, an R-tree (rstar) for incident areas,
//! haversine metres. A query point's disk of cells holds every incident point within
//! MAX_RADIUS_M, and the exact distance then decides.

use h3o::{LatLng, Resolution};
use rstar::{RTree, RTreeObject, AABB};

pub const CELL_RESOLUTION: Resolution = Resolution::Nine; // street-block cells, ~0.1 km² each
pub const DISK_K: u32 = 2;
/// Nowhere on the globe did a point leave its grid disk (k = 2) at resolution 9 within
/// ~400 m (the tests sample it); the scoring radius stays well inside that.
pub const MAX_RADIUS_M: f64 = 300.0;
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The H3 cell of a point, or None for coordinates H3 refuses (never for validated ones).
pub fn cell_of(lat: f64, lon: f64) -> Option<u64> {
    let point = LatLng::new(lat, lon).ok()?;
    Some(u64::from(point.to_cell(CELL_RESOLUTION)))
}

/// Every cell that may hold a point within MAX_RADIUS_M of (lat, lon).
pub fn disk_cells(lat: f64, lon: f64) -> Vec<u64> {
    match LatLng::new(lat, lon) {
        Ok(point) => point
            .to_cell(CELL_RESOLUTION)
            .grid_disk::<Vec<_>>(DISK_K)
            .into_iter()
            .map(u64::from)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Great-circle metres between two points (NaN where either is missing).
pub fn haversine_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let a = ((phi2 - phi1) / 2.0).sin().powi(2)
        + phi1.cos()
            * phi2.cos()
            * ((lon2.to_radians() - lon1.to_radians()) / 2.0)
                .sin()
                .powi(2);
    let a = if a > 1.0 { 1.0 } else { a }; // f64::min would turn NaN (no location) into 1
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// Ray casting in the lat/lon plane: exact enough for sites a few kilometres across.
pub fn polygon_contains(vertices: &[[f64; 2]], lat: f64, lon: f64) -> bool {
    let Some(&last) = vertices.last() else {
        return false;
    };
    let mut inside = false;
    let [mut prev_lat, mut prev_lon] = last;
    for &[v_lat, v_lon] in vertices {
        if (v_lat > lat) != (prev_lat > lat) {
            let crossing_lon = v_lon + (lat - v_lat) * (prev_lon - v_lon) / (prev_lat - v_lat);
            if lon < crossing_lon {
                inside = !inside;
            }
        }
        prev_lat = v_lat;
        prev_lon = v_lon;
    }
    inside
}

struct AreaBox {
    envelope: AABB<[f64; 2]>, // [lon, lat]
    slot: u32,
}

impl RTreeObject for AreaBox {
    type Envelope = AABB<[f64; 2]>;

    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// Incident parties recorded as areas; answers which areas contain a point. Vertices are
/// (lat, lon) rows, areas laid end to end.
pub struct AreaIndex {
    party_ids: Vec<u32>,
    ends: Vec<u32>,
    vertices: Vec<[f64; 2]>,
    tree: RTree<AreaBox>,
}

impl AreaIndex {
    pub fn new(party_ids: Vec<u32>, ends: Vec<u32>, vertices: Vec<[f64; 2]>) -> Self {
        let mut boxes = Vec::with_capacity(party_ids.len());
        let mut start = 0usize;
        for (slot, &end) in ends.iter().enumerate() {
            let polygon = &vertices[start..end as usize];
            let (mut south, mut west) = (f64::INFINITY, f64::INFINITY);
            let (mut north, mut east) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
            for &[lat, lon] in polygon {
                south = south.min(lat);
                north = north.max(lat);
                west = west.min(lon);
                east = east.max(lon);
            }
            boxes.push(AreaBox {
                envelope: AABB::from_corners([west, south], [east, north]),
                slot: slot as u32,
            });
            start = end as usize;
        }
        AreaIndex {
            party_ids,
            ends,
            vertices,
            tree: RTree::bulk_load(boxes),
        }
    }

    pub fn empty() -> Self {
        AreaIndex::new(Vec::new(), Vec::new(), Vec::new())
    }

    pub fn len(&self) -> usize {
        self.party_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.party_ids.is_empty()
    }

    pub fn party_ids(&self) -> &[u32] {
        &self.party_ids
    }

    pub fn ends(&self) -> &[u32] {
        &self.ends
    }

    pub fn vertices(&self) -> &[[f64; 2]] {
        &self.vertices
    }

    /// Party ids of the areas that contain the point, ascending.
    pub fn containing(&self, lat: f64, lon: f64) -> Vec<u32> {
        if self.party_ids.is_empty() {
            return Vec::new();
        }
        let mut hits: Vec<u32> = self
            .tree
            .locate_in_envelope_intersecting(&AABB::from_point([lon, lat]))
            .filter_map(|area| {
                let slot = area.slot as usize;
                let start = if slot == 0 {
                    0
                } else {
                    self.ends[slot - 1] as usize
                };
                let polygon = &self.vertices[start..self.ends[slot] as usize];
                polygon_contains(polygon, lat, lon).then_some(self.party_ids[slot])
            })
            .collect();
        hits.sort_unstable();
        hits
    }

    pub fn nbytes(&self) -> usize {
        self.party_ids.len() * 4
            + self.ends.len() * 4
            + self.vertices.len() * 16
            + self.tree.size() * std::mem::size_of::<AreaBox>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn offset(lat: f64, lon: f64, metres: f64, bearing_deg: f64) -> (f64, f64) {
        let d = metres / EARTH_RADIUS_M;
        let (phi1, lmb1, theta) = (lat.to_radians(), lon.to_radians(), bearing_deg.to_radians());
        let phi2 = (phi1.sin() * d.cos() + phi1.cos() * d.sin() * theta.cos()).asin();
        let lmb2 =
            lmb1 + (theta.sin() * d.sin() * phi1.cos()).atan2(d.cos() - phi1.sin() * phi2.sin());
        (phi2.to_degrees(), lmb2.to_degrees())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn a_point_within_the_radius_lies_in_the_query_disk(
            lat in -85.0f64..85.0, lon in -180.0f64..180.0,
            metres in 0.0f64..MAX_RADIUS_M, bearing in 0.0f64..360.0,
        ) {
            let (lat2, lon2) = offset(lat, lon, metres, bearing);
            let lon2 = if lon2 > 180.0 { lon2 - 360.0 } else if lon2 < -180.0 { lon2 + 360.0 } else { lon2 };
            let disk = disk_cells(lat, lon);
            let cell = cell_of(lat2, lon2).unwrap();
            prop_assert!(disk.contains(&cell));
            prop_assert!((haversine_m(lat, lon, lat2, lon2) - metres).abs() < 0.01);
        }
    }

    #[test]
    fn areas_contain_points_inside_only() {
        let square = vec![[10.0, 20.0], [10.0, 20.01], [10.01, 20.01], [10.01, 20.0]];
        let index = AreaIndex::new(vec![7], vec![4], square);
        assert_eq!(index.containing(10.005, 20.005), vec![7]);
        assert!(index.containing(10.02, 20.005).is_empty());
    }

    #[test]
    fn haversine_of_a_missing_point_is_nan() {
        assert!(haversine_m(f64::NAN, f64::NAN, 1.0, 1.0).is_nan());
    }
}
