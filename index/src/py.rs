//! The Python surface (`index._core`): the only module that knows Python. Few calls, each
//! doing a lot: bytes in, bytes out, the GIL released for the work.

use std::path::PathBuf;
use std::sync::Arc;

use prost::Message;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use rayon::prelude::*;

use crate::document::incident_from_json;
use crate::keys::Keying;
use crate::model::{self, FieldViolation, Incident};
use crate::policy::Policy;
use crate::proto;
use crate::snapshot::{file as snapshot_file, Snapshot, SnapshotBuilder};
use crate::summary::{CallSummary, ItemSummary};
use crate::suppression::{digest_from_hex, Suppressions};
use crate::verdict::response_of;
use crate::view::View;

/// The scoring policy, parsed once (from the JSON the Python policy module writes).
#[pyclass(name = "Policy", frozen, module = "index._core")]
pub struct PyPolicy {
    inner: Arc<Policy>,
}

#[pymethods]
impl PyPolicy {
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<PyPolicy> {
        Policy::from_json(text)
            .map(|p| PyPolicy { inner: Arc::new(p) })
            .map_err(PyValueError::new_err)
    }

    #[getter]
    fn version(&self) -> String {
        self.inner.version.clone()
    }
}

fn validation_error(py: Python<'_>, violations: &[FieldViolation]) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let errors = py.import("index.errors")?;
        let field_violation = errors.getattr("FieldViolation")?;
        let items = violations
            .iter()
            .map(|v| field_violation.call1((v.field.as_str(), v.description.as_str())))
            .collect::<PyResult<Vec<_>>>()?;
        let error = errors
            .getattr("ValidationError")?
            .call1((PyList::new(py, items)?,))?;
        Ok(PyErr::from_value(error))
    };
    build().unwrap_or_else(|e| e)
}

/// Runs `work` on a thread pool made for it and dropped after it. Rayon's global pool would not
/// survive the service forking its workers: its threads stay in the parent, and a child's
/// parallel work would wait for them forever.
fn on_own_pool<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    let pool = rayon::ThreadPoolBuilder::new()
        .build()
        .or_else(|_| rayon::ThreadPoolBuilder::new().num_threads(1).build());
    match pool {
        Ok(pool) => pool.install(work),
        Err(_) => work(),
    }
}

type Documents = Vec<(String, Vec<u8>)>;

/// Stored documents handed over as (id, bytes) pairs, copied out whole: a bytes object taken
/// as a Vec<u8> would be read item by item.
fn documents_of(items: &[(String, Bound<'_, PyBytes>)]) -> Documents {
    items
        .iter()
        .map(|(id, body)| (id.clone(), body.as_bytes().to_vec()))
        .collect()
}

/// Documents decoded and indexed together in a build: enough to keep both threads busy, few
/// enough that their decoded incidents are a small part of the index.
const BUILD_BATCH: usize = 50_000;
type Invalid = Vec<(String, String)>;

/// Decode stored documents in parallel; the malformed ones are reported (id, why), in order.
fn decode(documents: &Documents) -> (Vec<Incident>, Invalid) {
    let decoded: Vec<Result<Incident, (String, String)>> = documents
        .par_iter()
        .map(|(id, body)| {
            incident_from_json(body, &format!("store[{id}]"))
                .map_err(|violations| (id.clone(), model::error_message(&violations)))
        })
        .collect();
    let mut incidents = Vec::with_capacity(decoded.len());
    let mut invalid = Vec::new();
    for result in decoded {
        match result {
            Ok(incident) => incidents.push(incident),
            Err(bad) => invalid.push(bad),
        }
    }
    (incidents, invalid)
}

fn keying_of(key: &[u8]) -> PyResult<Keying> {
    let bytes: [u8; 16] = key
        .try_into()
        .map_err(|_| PyValueError::new_err("the deployment key must be 16 bytes"))?;
    Ok(Keying::from_bytes(bytes))
}

/// An immutable index of incident parties.
#[pyclass(name = "Snapshot", frozen, module = "index._core")]
pub struct PySnapshot {
    inner: Arc<Snapshot>,
}

#[pymethods]
impl PySnapshot {
    /// Build from stored documents ((incident id, JSON bytes) in store order, any iterable: a
    /// store's pages can stream in); also the documents that did not decode, as (id, reason).
    #[staticmethod]
    fn build<'py>(
        py: Python<'py>,
        documents: &Bound<'py, PyAny>,
        key: &[u8],
        generation: u64,
    ) -> PyResult<(PySnapshot, Invalid)> {
        let keying = keying_of(key)?;
        // A batch at a time, copied out, decoded and indexed, then dropped: neither the
        // documents nor their decoded incidents are ever all in memory at once.
        let mut builder = SnapshotBuilder::new(keying);
        let mut invalid = Vec::new();
        let mut documents = documents.try_iter()?;
        loop {
            let mut batch: Documents = Vec::with_capacity(BUILD_BATCH);
            for document in documents.by_ref().take(BUILD_BATCH) {
                let (id, body): (String, Bound<'py, PyBytes>) = document?.extract()?;
                batch.push((id, body.as_bytes().to_vec()));
            }
            if batch.is_empty() {
                break;
            }
            let (builder_after, bad) = py.detach(move || {
                on_own_pool(move || {
                    let (incidents, bad) = decode(&batch);
                    drop(batch);
                    builder.add(&incidents);
                    (builder, bad)
                })
            });
            builder = builder_after;
            invalid.extend(bad);
        }
        let snapshot = py.detach(move || on_own_pool(move || builder.finish(generation)));
        Ok((
            PySnapshot {
                inner: Arc::new(snapshot),
            },
            invalid,
        ))
    }

    /// Write this snapshot and the caller's stamp to `path` (fsynced; the caller renames it
    /// into place).
    fn save(&self, py: Python<'_>, path: PathBuf, stamp: &[u8]) -> PyResult<()> {
        py.detach(|| snapshot_file::save(&self.inner, stamp, &path))
            .map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// The snapshot kept in `path` (memory-mapped) and its stamp; ValueError saying why a
    /// file cannot be used.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf, generation: u64) -> PyResult<(PySnapshot, Vec<u8>)> {
        let (snapshot, stamp) = py
            .detach(|| snapshot_file::load(&path, generation))
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok((
            PySnapshot {
                inner: Arc::new(snapshot),
            },
            stamp,
        ))
    }

    /// The deployment key its index keys were hashed with.
    #[getter]
    fn key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.keying.to_bytes())
    }

    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation
    }

    #[getter]
    fn incident_count(&self) -> usize {
        self.inner.incident_count()
    }

    #[getter]
    fn party_count(&self) -> usize {
        self.inner.party_count()
    }

    #[getter]
    fn nbytes(&self) -> usize {
        self.inner.nbytes()
    }
}

/// One agency's recorded false matches, handed to its screens (immutable: the service swaps
/// in a new set when outcomes change).
#[pyclass(name = "Suppressions", frozen, module = "index._core")]
pub struct PySuppressions {
    inner: Suppressions,
}

#[pymethods]
impl PySuppressions {
    /// `pairs`: (party digest in hex, incident id, incident version), the digests keyed with
    /// `key` (the audit key).
    #[new]
    fn new(key: &[u8], pairs: Vec<(String, String, i64)>) -> PyResult<PySuppressions> {
        let mut parsed = Vec::with_capacity(pairs.len());
        for (digest, incident_id, version) in pairs {
            let digest = digest_from_hex(&digest).ok_or_else(|| {
                PyValueError::new_err(format!("{digest:.80?} is not a 64-hex-digit digest"))
            })?;
            parsed.push((digest, incident_id, version));
        }
        Ok(PySuppressions {
            inner: Suppressions::new(key, parsed),
        })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }
}

/// A snapshot with its delta: what screening reads.
#[pyclass(name = "View", frozen, module = "index._core")]
pub struct PyView {
    inner: View,
}

/// What the service records of one call's verdicts: counts for the metrics, and the audit
/// records, made when the audit log asks (off the request path).
#[pyclass(name = "Summary", frozen, module = "index._core")]
pub struct PySummary {
    inner: CallSummary,
}

#[pymethods]
impl PySummary {
    /// Verdicts by stoplight: (green, amber, red).
    fn stoplight_counts(&self) -> (usize, usize, usize) {
        let [g, a, r] = self.inner.stoplight_counts();
        (g, a, r)
    }

    /// (reason code, verdicts carrying it), for the codes that occur.
    fn reason_counts(&self) -> Vec<(&'static str, usize)> {
        self.inner.reason_counts()
    }

    #[getter]
    fn items(&self) -> usize {
        self.inner.items.len()
    }

    #[getter]
    fn invalid_items(&self) -> usize {
        self.inner.invalid_items
    }

    /// Each verdict's audit record: (item id, JSON body, whether it holds matches).
    fn audit_records(
        &self,
        py: Python<'_>,
        key: &[u8],
        at: f64,
        caller: &str,
        request_id: &str,
        rpc: &str,
    ) -> Vec<(String, Py<PyBytes>, bool)> {
        let records = py.detach(|| self.inner.audit_records(key, at, caller, request_id, rpc));
        records
            .into_iter()
            .map(|(item_id, body, matched)| (item_id, PyBytes::new(py, &body).unbind(), matched))
            .collect()
    }
}

fn summary_of(
    view: &View,
    queries: &[model::Query],
    verdicts: &[crate::verdict::Verdict<'_>],
    policy: &Policy,
    invalid_items: usize,
) -> CallSummary {
    CallSummary {
        items: queries
            .iter()
            .zip(verdicts)
            .map(|(q, v)| ItemSummary::of(q, v))
            .collect(),
        invalid_items,
        generation: view.generation,
        policy_version: policy.version.clone(),
    }
}

type Screened = (Vec<u8>, CallSummary);

/// A screening's answer as Python sees it: the response bytes and their summary, or the
/// request's field violations as index.errors.ValidationError.
fn answer(
    py: Python<'_>,
    result: Result<Screened, Vec<FieldViolation>>,
) -> PyResult<(Bound<'_, PyBytes>, PySummary)> {
    match result {
        Ok((bytes, summary)) => Ok((PyBytes::new(py, &bytes), PySummary { inner: summary })),
        Err(violations) => Err(validation_error(py, &violations)),
    }
}

/// What a body that is not the method's message gets (as the service says it).
fn undecodable() -> Vec<FieldViolation> {
    vec![FieldViolation {
        field: "request".into(),
        description: "is not a valid message for this method".into(),
    }]
}

/// What one screening call is given besides the request.
struct Screening<'a> {
    policy: &'a Policy,
    today: i32,
    age: f64,
    suppressions: Option<&'a Suppressions>,
}

fn screen_one(
    view: &View,
    request: &[u8],
    how: &Screening<'_>,
) -> Result<Screened, Vec<FieldViolation>> {
    let (policy, age) = (how.policy, how.age);
    let message = proto::ScreenRequest::decode(request).map_err(|_| undecodable())?;
    let query = model::validate_request(&message)?;
    let queries = std::slice::from_ref(&query);
    let verdicts = view.screen(queries, policy, how.today, how.suppressions);
    let response = response_of(&verdicts[0], age).encode_to_vec();
    Ok((response, summary_of(view, queries, &verdicts, policy, 0)))
}

fn screen_batch(
    view: &View,
    request: &[u8],
    how: &Screening<'_>,
    max_items: usize,
) -> Result<Screened, Vec<FieldViolation>> {
    let (policy, age) = (how.policy, how.age);
    let message = proto::ScreenBatchRequest::decode(request).map_err(|_| undecodable())?;
    if message.items.len() > max_items {
        return Err(vec![FieldViolation {
            field: "items".into(),
            description: format!("at most {max_items} entries"),
        }]);
    }
    let mut entries: Vec<proto::ScreenBatchEntry> = Vec::with_capacity(message.items.len());
    let mut valid = Vec::new();
    let mut positions = Vec::new();
    for (i, item) in message.items.iter().enumerate() {
        match model::validate_request(item) {
            Ok(query) => {
                valid.push(query);
                positions.push(i);
            }
            Err(violations) => entries.push(proto::ScreenBatchEntry {
                index: i as i32,
                outcome: Some(proto::screen_batch_entry::Outcome::Error(
                    model::item_error(&violations),
                )),
            }),
        }
    }
    let verdicts = view.screen(&valid, policy, how.today, how.suppressions);
    for (i, verdict) in positions.into_iter().zip(&verdicts) {
        entries.push(proto::ScreenBatchEntry {
            index: i as i32,
            outcome: Some(proto::screen_batch_entry::Outcome::Verdict(response_of(
                verdict, age,
            ))),
        });
    }
    let invalid = entries.len() - verdicts.len();
    let summary = summary_of(view, &valid, &verdicts, policy, invalid);
    entries.sort_by_key(|e| e.index);
    Ok((
        proto::ScreenBatchResponse { entries }.encode_to_vec(),
        summary,
    ))
}

#[pymethods]
impl PyView {
    #[new]
    fn new(snapshot: &PySnapshot) -> PyView {
        PyView {
            inner: View::of(Arc::clone(&snapshot.inner)),
        }
    }

    /// A new view with these stored documents upserted and these ids deleted; also the
    /// documents that did not decode (their ids keep what the index had for them).
    fn apply<'py>(
        &self,
        py: Python<'py>,
        documents: Vec<(String, Bound<'py, PyBytes>)>,
        deletions: Vec<String>,
        generation: u64,
    ) -> (PyView, Invalid) {
        let documents = documents_of(&documents);
        let (view, invalid) = py.detach(|| {
            on_own_pool(|| {
                let (incidents, invalid) = decode(&documents);
                (self.inner.apply(incidents, &deletions, generation), invalid)
            })
        });
        (PyView { inner: view }, invalid)
    }

    /// Screen one serialized ScreenRequest; the serialized ScreenResponse. An invalid request
    /// raises index.errors.ValidationError naming every offending field. Matches of the pairs
    /// in `suppressed` (the calling agency's false matches) no longer raise the stoplight.
    #[pyo3(signature = (request, policy, today, age_seconds, *, suppressed = None))]
    fn screen<'py>(
        &self,
        py: Python<'py>,
        request: &[u8],
        policy: &PyPolicy,
        today: i32,
        age_seconds: f64,
        suppressed: Option<&PySuppressions>,
    ) -> PyResult<(Bound<'py, PyBytes>, PySummary)> {
        let how = Screening {
            policy: &policy.inner,
            today,
            age: age_seconds,
            suppressions: suppressed.map(|s| &s.inner),
        };
        let result = py.detach(|| screen_one(&self.inner, request, &how));
        answer(py, result)
    }

    /// Screen a serialized ScreenBatchRequest; the serialized ScreenBatchResponse (a bad item
    /// gets its own error entry and never fails the others).
    #[pyo3(signature = (request, policy, today, age_seconds, max_items, *, suppressed = None))]
    #[allow(clippy::too_many_arguments)] // the Python signature: one argument each
    fn screen_batch<'py>(
        &self,
        py: Python<'py>,
        request: &[u8],
        policy: &PyPolicy,
        today: i32,
        age_seconds: f64,
        max_items: usize,
        suppressed: Option<&PySuppressions>,
    ) -> PyResult<(Bound<'py, PyBytes>, PySummary)> {
        let how = Screening {
            policy: &policy.inner,
            today,
            age: age_seconds,
            suppressions: suppressed.map(|s| &s.inner),
        };
        let result = py.detach(|| screen_batch(&self.inner, request, &how, max_items));
        answer(py, result)
    }

    #[getter]
    fn generation(&self) -> u64 {
        self.inner.generation
    }

    #[getter]
    fn incident_count(&self) -> usize {
        self.inner.incident_count()
    }

    #[getter]
    fn party_count(&self) -> usize {
        self.inner.party_count()
    }

    #[getter]
    fn delta_changes(&self) -> usize {
        self.inner.delta.len()
    }

    fn snapshot(&self) -> PySnapshot {
        PySnapshot {
            inner: Arc::clone(&self.inner.base),
        }
    }
}

/// Re-score candidates a database-backed screener found: `candidates[i]` holds the stored
/// documents of the incidents found for the request's party i; every party of them is scored
/// as the index would. The serialized ScreenResponse and its summary; ValidationError for an
/// invalid request.
#[pyfunction]
fn rescore<'py>(
    py: Python<'py>,
    request: &[u8],
    candidates: Vec<Vec<Vec<u8>>>,
    policy: &PyPolicy,
    today: i32,
    incident_count: usize,
) -> PyResult<(Bound<'py, PyBytes>, PySummary)> {
    let keying = Keying::new(0, 0);
    let result = py.detach(|| -> Result<Screened, Vec<FieldViolation>> {
        let message = proto::ScreenRequest::decode(request).map_err(|_| undecodable())?;
        let query = model::validate_request(&message)?;
        if candidates.len() != query.parties.len() {
            return Err(vec![FieldViolation {
                field: "parties".into(),
                description: "one list of candidates per party is needed".into(),
            }]);
        }
        let snapshots: Vec<Snapshot> = on_own_pool(|| {
            candidates
                .iter()
                .map(|documents| {
                    let incidents: Vec<Incident> = documents
                        .iter()
                        .filter_map(|body| incident_from_json(body, "candidate").ok())
                        .collect();
                    Snapshot::build(&incidents, keying, 0)
                })
                .collect()
        });
        let verdict =
            crate::view::rescore(&query, &snapshots, &policy.inner, today, incident_count);
        let response = response_of(&verdict, 0.0).encode_to_vec();
        let summary = CallSummary {
            items: vec![ItemSummary::of(&query, &verdict)],
            invalid_items: 0,
            generation: 0,
            policy_version: policy.inner.version.clone(),
        };
        Ok((response, summary))
    });
    answer(py, result)
}

/// The normalised name: (tokens, core tokens); what the matcher compares.
#[pyfunction]
fn normalize_name(raw: &str) -> (Vec<String>, Vec<String>) {
    let name = crate::normalize::normalize_name(raw);
    (name.tokens, name.core_tokens)
}

/// A party's identifiers in canonical form: (kind, value), phones read with `country_code`
/// as the default region.
#[pyfunction]
fn identifiers(
    phones: Vec<String>,
    emails: Vec<String>,
    web_domains: Vec<String>,
    country_code: String,
) -> Vec<(&'static str, String)> {
    let party = model::Party {
        phones,
        emails,
        web_domains,
        country_code,
        ..Default::default()
    };
    crate::snapshot::identifiers_of(&party)
        .into_iter()
        .map(|(kind, value)| (kind.as_str(), value))
        .collect()
}

/// The audit digest of a party (see summary::party_digest).
#[pyfunction]
fn party_digest(key: &[u8], name: &str, business_name: &str, country_code: &str) -> String {
    crate::summary::party_digest(key, name, business_name, country_code)
}

/// How many entries of field 1 (a batch's items, a put's incidents) a serialized request
/// holds, without decoding them: what a rate limit charges before the call is screened.
/// Undecodable bytes count as one.
#[pyfunction]
fn count_items(request: &[u8]) -> usize {
    proto::count_field(request, 1).unwrap_or(1)
}

/// The proto fields the core knows: (message, field, number), for the drift test.
#[pyfunction]
fn proto_fields(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let rows: Vec<Bound<'_, PyTuple>> = proto::message_fields()
        .into_iter()
        .map(|(m, f, n)| {
            PyTuple::new(
                py,
                [
                    m.into_pyobject(py)?.into_any(),
                    f.into_pyobject(py)?.into_any(),
                    n.into_pyobject(py)?.into_any(),
                ],
            )
        })
        .collect::<PyResult<_>>()?;
    PyList::new(py, rows)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPolicy>()?;
    m.add_class::<PySnapshot>()?;
    m.add_class::<PyView>()?;
    m.add_class::<PySummary>()?;
    m.add_class::<PySuppressions>()?;
    m.add_function(wrap_pyfunction!(party_digest, m)?)?;
    m.add_function(wrap_pyfunction!(count_items, m)?)?;
    m.add_function(wrap_pyfunction!(rescore, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_name, m)?)?;
    m.add_function(wrap_pyfunction!(identifiers, m)?)?;
    m.add_function(wrap_pyfunction!(proto_fields, m)?)?;
    Ok(())
}
