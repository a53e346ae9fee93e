//! A bundle: the DAGs and tasks one executable can run, and its metadata.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use airflow_protocol::{JsonValue, SUPERVISOR_SCHEMA_VERSION};

/// The SDK's language name in bundle metadata.
pub const SDK_LANGUAGE: &str = "rust";
/// This SDK's version, written into bundle metadata.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds an adapter's handler type from a task function. Adapters implement it for the
/// function shapes they accept; `Marker` only tells those impls apart.
pub trait FromTaskFn<F, Marker>: Sized {
    /// The handler for `f`.
    fn from_task_fn(f: F) -> Self;
}

/// One task: its main handler and the handlers it resumes with after a deferral.
pub struct TaskDef<H> {
    task_id: String,
    handler: H,
    resume: Vec<(String, H)>,
}

impl<H> TaskDef<H> {
    /// The task id.
    pub fn task_id(&self) -> &str {
        &self.task_id
    }

    /// The handler to call: the one registered for `next_method` when resuming after a
    /// deferral, else the main one.
    pub fn handler_for(&self, next_method: Option<&str>) -> &H {
        next_method
            .and_then(|method| self.resume.iter().find(|(m, _)| m == method))
            .map(|(_, h)| h)
            .unwrap_or(&self.handler)
    }
}

/// The tasks of one DAG, in the order they were added.
pub struct Dag<H> {
    dag_id: String,
    tasks: Vec<TaskDef<H>>,
}

impl<H> Dag<H> {
    /// The DAG id.
    pub fn dag_id(&self) -> &str {
        &self.dag_id
    }

    /// Its tasks.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskDef<H>> {
        self.tasks.iter()
    }
}

/// Adds tasks to a DAG; see [`Bundle::dag`].
pub struct DagBuilder<H> {
    dag: Dag<H>,
    problems: Vec<String>,
}

impl<H> DagBuilder<H> {
    /// Adds a task.
    pub fn task<F, M>(mut self, task_id: &str, handler: F) -> Self
    where
        H: FromTaskFn<F, M>,
    {
        if task_id.is_empty() {
            self.problems.push(format!(
                "DAG {:?} has a task with an empty id",
                self.dag.dag_id
            ));
        } else if self.dag.tasks.iter().any(|t| t.task_id == task_id) {
            self.problems.push(format!(
                "DAG {:?} has task {task_id:?} twice",
                self.dag.dag_id
            ));
        }
        self.dag.tasks.push(TaskDef {
            task_id: task_id.to_owned(),
            handler: H::from_task_fn(handler),
            resume: Vec::new(),
        });
        self
    }

    /// Registers what the task added last runs when it resumes after deferring with
    /// `next_method == method`.
    pub fn on_resume<F, M>(mut self, method: &str, handler: F) -> Self
    where
        H: FromTaskFn<F, M>,
    {
        match self.dag.tasks.last_mut() {
            Some(task) => task
                .resume
                .push((method.to_owned(), H::from_task_fn(handler))),
            None => self.problems.push(format!(
                "DAG {:?}: on_resume({method:?}) comes before any task",
                self.dag.dag_id
            )),
        }
        self
    }
}

/// The DAGs and tasks of one executable.
pub struct Bundle<H> {
    name: String,
    version: Option<String>,
    dags: Vec<Dag<H>>,
    problems: Vec<String>,
}

impl<H> Bundle<H> {
    /// An empty bundle called `name` (shown in its metadata).
    pub fn new(name: &str) -> Self {
        let mut problems = Vec::new();
        if name.is_empty() {
            problems.push("the bundle name is empty".to_owned());
        }
        Self {
            name: name.to_owned(),
            version: None,
            dags: Vec::new(),
            problems,
        }
    }

    /// Sets the bundle version (shown in its metadata).
    pub fn version(mut self, version: &str) -> Self {
        self.version = Some(version.to_owned());
        self
    }

    /// Adds a DAG and its tasks: `bundle.dag("etl", |dag| dag.task("extract", extract))`.
    pub fn dag(mut self, dag_id: &str, build: impl FnOnce(DagBuilder<H>) -> DagBuilder<H>) -> Self {
        if dag_id.is_empty() {
            self.problems.push("a DAG has an empty id".to_owned());
        } else if self.dags.iter().any(|d| d.dag_id == dag_id) {
            self.problems
                .push(format!("DAG {dag_id:?} is defined twice"));
        }
        let built = build(DagBuilder {
            dag: Dag {
                dag_id: dag_id.to_owned(),
                tasks: Vec::new(),
            },
            problems: Vec::new(),
        });
        if built.dag.tasks.is_empty() {
            self.problems.push(format!("DAG {dag_id:?} has no tasks"));
        }
        self.problems.extend(built.problems);
        self.dags.push(built.dag);
        self
    }

    /// The bundle name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its DAGs.
    pub fn dags(&self) -> impl Iterator<Item = &Dag<H>> {
        self.dags.iter()
    }

    /// Mistakes made while building the bundle (duplicate or empty ids, DAGs without
    /// tasks). A bundle with problems refuses to run or to print metadata.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The task `task_id` of DAG `dag_id`.
    pub fn find(&self, dag_id: &str, task_id: &str) -> Option<&TaskDef<H>> {
        self.dags
            .iter()
            .find(|d| d.dag_id == dag_id)?
            .tasks
            .iter()
            .find(|t| t.task_id == task_id)
    }

    /// The metadata the packer embeds and `--airflow-metadata` prints.
    pub fn metadata(&self) -> BundleMetadata {
        BundleMetadata {
            name: self.name.clone(),
            version: self.version.clone(),
            sdk_language: SDK_LANGUAGE.to_owned(),
            sdk_version: SDK_VERSION.to_owned(),
            supervisor_schema_version: SUPERVISOR_SCHEMA_VERSION.to_owned(),
            source: None,
            dags: self
                .dags
                .iter()
                .map(|d| {
                    (
                        d.dag_id.clone(),
                        d.tasks.iter().map(|t| t.task_id.clone()).collect(),
                    )
                })
                .collect(),
        }
    }
}

/// What a bundle declares about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleMetadata {
    /// The bundle name.
    pub name: String,
    /// The bundle version.
    pub version: Option<String>,
    /// `rust`.
    pub sdk_language: String,
    /// The SDK version.
    pub sdk_version: String,
    /// The supervisor schema the bundle speaks: `2026-06-16`.
    pub supervisor_schema_version: String,
    /// The file name of the embedded source, set by the packer.
    pub source: Option<String>,
    /// DAG id to task ids.
    pub dags: BTreeMap<String, Vec<String>>,
}

impl BundleMetadata {
    /// The metadata as JSON.
    pub fn to_json(&self) -> JsonValue {
        serde_json::json!({
            "airflow_bundle_metadata_version": "1.0",
            "bundle": {"name": self.name, "version": self.version},
            "sdk": {
                "language": self.sdk_language,
                "version": self.sdk_version,
                "supervisor_schema_version": self.supervisor_schema_version,
            },
            "source": self.source,
            "dags": self.dags.iter().map(|(dag, tasks)| (dag.clone(), serde_json::json!({"tasks": tasks}))).collect::<serde_json::Map<_, _>>(),
        })
    }

    /// Reads the JSON form back (the packer reads what a bundle prints).
    pub fn from_json(value: &JsonValue) -> Result<Self, String> {
        let text = |v: &JsonValue, path: &str| -> Result<String, String> {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("`{path}` must be a string"))
        };
        let sdk = value.get("sdk").ok_or("missing `sdk`")?;
        let bundle = value.get("bundle").ok_or("missing `bundle`")?;
        let dags = value
            .get("dags")
            .and_then(JsonValue::as_object)
            .ok_or("`dags` must be a map")?;
        let mut out = BTreeMap::new();
        for (dag_id, dag) in dags {
            let tasks = dag
                .get("tasks")
                .and_then(JsonValue::as_array)
                .ok_or_else(|| format!("`dags.{dag_id}.tasks` must be a list"))?;
            let tasks = tasks
                .iter()
                .map(|t| text(t, &format!("dags.{dag_id}.tasks[]")))
                .collect::<Result<Vec<_>, _>>()?;
            out.insert(dag_id.clone(), tasks);
        }
        Ok(Self {
            name: text(
                bundle.get("name").unwrap_or(&JsonValue::Null),
                "bundle.name",
            )?,
            version: bundle
                .get("version")
                .and_then(JsonValue::as_str)
                .map(str::to_owned),
            sdk_language: text(
                sdk.get("language").unwrap_or(&JsonValue::Null),
                "sdk.language",
            )?,
            sdk_version: text(
                sdk.get("version").unwrap_or(&JsonValue::Null),
                "sdk.version",
            )?,
            supervisor_schema_version: text(
                sdk.get("supervisor_schema_version")
                    .unwrap_or(&JsonValue::Null),
                "sdk.supervisor_schema_version",
            )?,
            source: value
                .get("source")
                .and_then(JsonValue::as_str)
                .map(str::to_owned),
            dags: out,
        })
    }

    /// The metadata as the YAML Airflow's `ExecutableCoordinator` reads. Every scalar is a
    /// double-quoted string, DAG ids included, so that ids like `123`, `true` or
    /// `2024-01-01` stay strings when `yaml.safe_load` reads them. DAG ids are sorted, so the
    /// same bundle always gives the same bytes.
    pub fn to_yaml(&self) -> String {
        let mut out = String::new();
        let q = |s: &str| yaml_quote(s);
        let _ = writeln!(out, "airflow_bundle_metadata_version: \"1.0\"");
        let _ = writeln!(out, "bundle:");
        let _ = writeln!(out, "  name: {}", q(&self.name));
        match &self.version {
            Some(v) => {
                let _ = writeln!(out, "  version: {}", q(v));
            }
            None => {
                let _ = writeln!(out, "  version: null");
            }
        }
        let _ = writeln!(out, "sdk:");
        let _ = writeln!(out, "  language: {}", q(&self.sdk_language));
        let _ = writeln!(out, "  version: {}", q(&self.sdk_version));
        let _ = writeln!(
            out,
            "  supervisor_schema_version: {}",
            q(&self.supervisor_schema_version)
        );
        if let Some(source) = &self.source {
            let _ = writeln!(out, "source: {}", q(source));
        }
        let _ = writeln!(out, "dags:");
        for (dag_id, tasks) in &self.dags {
            let _ = writeln!(out, "  {}:", q(dag_id));
            let _ = writeln!(out, "    tasks:");
            for task in tasks {
                let _ = writeln!(out, "      - {}", q(task));
            }
        }
        out
    }
}

/// A YAML double-quoted scalar. YAML's double-quoted escapes are a superset of JSON's, so
/// JSON escaping is valid YAML; DEL and the C1 controls, which JSON leaves alone but YAML
/// loaders refuse unescaped, are escaped too.
fn yaml_quote(text: &str) -> String {
    let json = serde_json::to_string(text).expect("a string always encodes");
    if !json.chars().any(|c| ('\u{7f}'..='\u{9f}').contains(&c)) {
        return json;
    }
    json.chars()
        .map(|c| match c {
            '\u{7f}'..='\u{9f}' => format!("\\u{:04x}", u32::from(c)),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct H;
    impl FromTaskFn<&str, ()> for H {
        fn from_task_fn(_: &str) -> H {
            H
        }
    }

    #[test]
    fn metadata_yaml_quotes_every_id() {
        let bundle: Bundle<H> = Bundle::new("b")
            .version("1")
            .dag("123", |d| d.task("true", "x"))
            .dag("a\"b", |d| d.task("t", "x").task("u", "x"));
        assert!(bundle.problems().is_empty());
        let yaml = bundle.metadata().to_yaml();
        assert!(
            yaml.contains("  \"123\":\n    tasks:\n      - \"true\"\n"),
            "{yaml}"
        );
        assert!(yaml.contains("  \"a\\\"b\":"), "{yaml}");
        assert_eq!(yaml_quote("a\u{7f}b\u{85}"), "\"a\\u007fb\\u0085\"");
        assert!(yaml.contains("supervisor_schema_version: \"2026-06-16\""));
        let back = BundleMetadata::from_json(&bundle.metadata().to_json()).unwrap();
        assert_eq!(back, bundle.metadata());
    }

    #[test]
    fn building_mistakes_are_reported_not_panicked() {
        let bundle: Bundle<H> = Bundle::new("b")
            .dag("d", |d| d.task("t", "x").task("t", "x"))
            .dag("d", |d| d.on_resume("m", "x"))
            .dag("", |d| d.task("", "x"));
        let problems = bundle.problems().join("\n");
        for expected in [
            "task \"t\" twice",
            "defined twice",
            "before any task",
            "has no tasks",
            "empty id",
        ] {
            assert!(problems.contains(expected), "{expected} in {problems}");
        }
    }
}
