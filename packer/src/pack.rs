//! `pack`: an SDK executable, its DAG source and its metadata into one AFBNDL01 bundle.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airflow_protocol::bundle::{self, hex, MAGIC, TRAILER_LEN};
use airflow_protocol::SUPERVISOR_SCHEMA_VERSION;
use airflow_task_sdk::bundle::BundleMetadata;
use sha2::{Digest, Sha256};

use crate::verify::{read_trailer, sha256_prefix, HashWriter};
use crate::{metadata, Error};

/// The most a binary may print for `--airflow-metadata` (metadata is a few kilobytes).
const MAX_METADATA_OUTPUT: u64 = 16 << 20;

/// What to pack.
#[derive(Debug, Clone)]
pub struct PackOptions {
    /// The executable built with the SDK.
    pub binary: PathBuf,
    /// The DAG source file to embed (UTF-8).
    pub source: PathBuf,
    /// The bundle to write.
    pub output: PathBuf,
    /// Replaces the bundle name the binary reports.
    pub name: Option<String>,
    /// Replaces the bundle version the binary reports.
    pub version: Option<String>,
    /// Accept a binary that is already a bundle: its executable region is packed again with
    /// the new source and metadata. Without it such a binary is refused.
    pub repack: bool,
    /// How long the binary may take to print its metadata.
    pub metadata_timeout: Duration,
}

impl PackOptions {
    /// Options with no overrides, no `--repack`, and a 30 s metadata timeout.
    pub fn new(
        binary: impl Into<PathBuf>,
        source: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
    ) -> Self {
        Self {
            binary: binary.into(),
            source: source.into(),
            output: output.into(),
            name: None,
            version: None,
            repack: false,
            metadata_timeout: Duration::from_secs(30),
        }
    }
}

/// What [`pack`] wrote.
#[derive(Debug, Clone)]
pub struct Packed {
    /// The bundle written.
    pub output: PathBuf,
    /// Length of the executable region.
    pub executable_len: u64,
    /// Length of the embedded source.
    pub source_len: u64,
    /// Length of the metadata YAML.
    pub metadata_len: u64,
    /// Length of the whole bundle.
    pub total_len: u64,
    /// SHA-256 of the executable region, as recorded in the trailer.
    pub executable_sha256: [u8; 32],
    /// The metadata embedded.
    pub metadata: BundleMetadata,
    /// Whether the binary was a bundle whose trailer was replaced (`--repack`).
    pub repacked: bool,
}

impl Packed {
    /// A one-paragraph report for the command line.
    pub fn summary(&self) -> String {
        let dags: Vec<_> = self
            .metadata
            .dags
            .iter()
            .map(|(dag, tasks)| format!("{dag} ({} tasks)", tasks.len()))
            .collect();
        format!(
            "{}packed {}: {} bytes (executable {}, source {}, metadata {}, trailer {TRAILER_LEN})\n\
             executable sha256 {}\nDAGs: {}\n",
            if self.repacked { "re" } else { "" },
            self.output.display(),
            self.total_len,
            self.executable_len,
            self.source_len,
            self.metadata_len,
            hex(&self.executable_sha256),
            dags.join(", ")
        )
    }
}

/// Runs `binary --airflow-metadata --format json` (waiting at most `timeout`) and reads what
/// it prints.
pub fn read_binary_metadata(binary: &Path, timeout: Duration) -> Result<BundleMetadata, Error> {
    let shown = format!("{} --airflow-metadata --format json", binary.display());
    // A bare file name would be looked up on PATH: run the file named.
    let program = if binary.components().count() == 1 {
        Path::new(".").join(binary)
    } else {
        binary.to_path_buf()
    };
    let mut child = Command::new(&program)
        .args(["--airflow-metadata", "--format", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(binary, &format!("cannot run `{shown}`"), &e))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(MAX_METADATA_OUTPUT + 1).read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::new(
                    binary,
                    format!(
                        "`{shown}` did not finish within {timeout:?}; is it built with the Airflow \
                         Rust Task SDK?"
                    ),
                ));
            }
            Err(e) => return Err(Error::io(binary, &format!("cannot wait for `{shown}`"), &e)),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        let tail: Vec<_> = stderr.trim_end().lines().rev().take(5).collect();
        let tail: Vec<_> = tail.into_iter().rev().collect();
        return Err(Error::new(
            binary,
            format!(
                "`{shown}` failed ({status}); is it built with the Airflow Rust Task SDK?{}{}",
                if tail.is_empty() {
                    ""
                } else {
                    " Its stderr:\n"
                },
                tail.join("\n")
            ),
        ));
    }
    if stdout.len() as u64 > MAX_METADATA_OUTPUT {
        return Err(Error::new(
            binary,
            format!("`{shown}` printed more than {MAX_METADATA_OUTPUT} bytes"),
        ));
    }
    if stdout.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::new(
            binary,
            format!("`{shown}` printed nothing; is it built with the Airflow Rust Task SDK?"),
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(&stdout).map_err(|e| {
        let start: String = String::from_utf8_lossy(&stdout).chars().take(120).collect();
        Error::new(
            binary,
            format!("`{shown}` printed invalid JSON ({e}); it starts with {start:?}"),
        )
    })?;
    let metadata = BundleMetadata::from_json(&value).map_err(|e| {
        Error::new(
            binary,
            format!("`{shown}` printed metadata the packer cannot read: {e}"),
        )
    })?;
    check_binary_metadata(&metadata).map_err(|e| Error::new(binary, e))?;
    Ok(metadata)
}

/// Refuses metadata a bundle must not be packed with: a supervisor schema version other than
/// the one Airflow 1.3.2 and this SDK speak, no DAGs, an empty DAG or task id.
pub fn check_binary_metadata(metadata: &BundleMetadata) -> Result<(), String> {
    if metadata.supervisor_schema_version != SUPERVISOR_SCHEMA_VERSION {
        return Err(format!(
            "the binary declares supervisor schema {:?}; this packer packs {:?} (what Airflow \
             1.3.2 accepts)",
            metadata.supervisor_schema_version, SUPERVISOR_SCHEMA_VERSION
        ));
    }
    if metadata.dags.is_empty() {
        return Err("the binary's metadata lists no DAG".to_owned());
    }
    for (dag, tasks) in &metadata.dags {
        if dag.is_empty() {
            return Err("the binary's metadata has a DAG with an empty id".to_owned());
        }
        if tasks.iter().any(String::is_empty) {
            return Err(format!("DAG {dag:?} has a task with an empty id"));
        }
    }
    Ok(())
}

/// The length of the executable region of `binary`: the whole file, or with `repack`, the
/// executable region of a bundle (whose digest must still match). A binary that already ends
/// with an AFBNDL01 trailer is refused without `repack`: packing it again would bury the old
/// trailer inside the new executable region.
fn executable_region(binary: &Path, repack: bool) -> Result<(File, u64, bool), Error> {
    let mut file = File::open(binary).map_err(|e| Error::io(binary, "cannot open", &e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(binary, "cannot stat", &e))?;
    if !meta.is_file() {
        return Err(Error::new(binary, "not a regular file"));
    }
    let len = meta.len();
    if len == 0 {
        return Err(Error::new(binary, "the binary is empty"));
    }
    let mut magic = [0u8; 8];
    let has_trailer = len >= TRAILER_LEN as u64
        && file
            .seek(SeekFrom::Start(len - 8))
            .and_then(|_| file.read_exact(&mut magic))
            .is_ok()
        && magic == MAGIC;
    if !has_trailer {
        return Ok((file, len, false));
    }
    let trailer_at = format!("bytes {}..{len}", len - TRAILER_LEN as u64);
    if !repack {
        return Err(Error::new(
            binary,
            "already an executable bundle (it ends with an AFBNDL01 trailer); pack the plain \
             binary, or pass --repack to replace its source and metadata",
        )
        .at(trailer_at));
    }
    let layout = read_trailer(&mut file, binary, len).map_err(|e| Error {
        what: format!("cannot --repack: {}", e.what),
        ..e
    })?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(binary, "cannot read", &e))?;
    let digest = sha256_prefix(&mut file, layout.executable.end)
        .map_err(|e| Error::io(binary, "cannot read", &e))?;
    bundle::check_digest(&layout, digest).map_err(|_| {
        Error::new(
            binary,
            "cannot --repack: the executable region no longer matches its trailer's SHA-256",
        )
        .at(trailer_at)
    })?;
    Ok((file, layout.executable.end, true))
}

/// Packs a bundle: `binary` (its executable region, with `repack`), then the source, the
/// metadata YAML and the 64-byte trailer, written to a temporary file beside `output`, made
/// mode 0755, and renamed over `output`. The same inputs always give the same bytes.
pub fn pack(options: &PackOptions) -> Result<Packed, Error> {
    let binary = &options.binary;
    let (mut binary_file, executable_len, repacked) = executable_region(binary, options.repack)?;

    let mut metadata = read_binary_metadata(binary, options.metadata_timeout)?;
    let source = std::fs::read(&options.source)
        .map_err(|e| Error::io(&options.source, "cannot read the source", &e))?;
    if let Err(e) = std::str::from_utf8(&source) {
        return Err(Error::new(&options.source, "the DAG source is not UTF-8")
            .at(format!("byte {}", e.valid_up_to())));
    }
    let source_name = options
        .source
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Error::new(&options.source, "the source file name is not UTF-8"))?;
    metadata.source = Some(source_name.to_owned());
    if let Some(name) = &options.name {
        metadata.name = name.clone();
    }
    if let Some(version) = &options.version {
        metadata.version = Some(version.clone());
    }
    let yaml = metadata.to_yaml();
    // What we embed must read back, through Airflow's rules, as the DAGs the binary declared.
    let summary = metadata::check(yaml.as_bytes()).map_err(|p| {
        Error::new(
            binary,
            format!("the metadata YAML would not be accepted by Airflow: {p}"),
        )
    })?;
    if !summary.dags.keys().eq(metadata.dags.keys()) {
        return Err(Error::new(
            binary,
            "the metadata YAML does not read back as the binary's DAG ids",
        ));
    }

    let output = &options.output;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = output
        .file_name()
        .ok_or_else(|| Error::new(output, "the output is not a file name"))?;
    let temp = TempFile::create(&dir, &file_name.to_string_lossy())?;

    binary_file
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(binary, "cannot read", &e))?;
    let mut hasher = Sha256::new();
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, &temp.file);
    let copied = std::io::copy(
        &mut (&mut binary_file).take(executable_len),
        &mut Tee(&mut writer, HashWriter(&mut hasher)),
    )
    .map_err(|e| Error::io(&temp.path, "cannot write", &e))?;
    if copied != executable_len {
        return Err(Error::new(binary, "the binary changed while it was packed"));
    }
    let digest: [u8; 32] = hasher.finalize().into();
    let region = bundle::trailer_region(&source, yaml.as_bytes(), digest)
        .map_err(|e| Error::new(&options.source, format!("too large for a bundle: {e}")))?;
    writer
        .write_all(&region)
        .and_then(|_| writer.flush())
        .map_err(|e| Error::io(&temp.path, "cannot write", &e))?;
    drop(writer);
    let total_len = executable_len + region.len() as u64;
    temp.finish(output)?;
    Ok(Packed {
        output: output.clone(),
        executable_len,
        source_len: source.len() as u64,
        metadata_len: yaml.len() as u64,
        total_len,
        executable_sha256: digest,
        metadata,
        repacked,
    })
}

/// Writes to two writers.
struct Tee<A, B>(A, B);

impl<A: Write, B: Write> Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(buf)?;
        self.1.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()?;
        self.1.flush()
    }
}

/// A temporary file beside the output, removed unless [`TempFile::finish`] renames it.
struct TempFile {
    path: PathBuf,
    file: File,
    done: bool,
}

impl TempFile {
    fn create(dir: &Path, name: &str) -> Result<Self, Error> {
        let path = dir.join(format!(
            ".{name}.{}.airflow-rust-pack.tmp",
            std::process::id()
        ));
        // A leftover of a killed run with the same pid.
        let _ = std::fs::remove_file(&path);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(&path, "cannot create the temporary output", &e))?;
        Ok(Self {
            path,
            file,
            done: false,
        })
    }

    /// Syncs, makes the file mode 0755 and renames it to `output`.
    fn finish(mut self, output: &Path) -> Result<(), Error> {
        self.file
            .sync_all()
            .map_err(|e| Error::io(&self.path, "cannot sync", &e))?;
        set_mode_755(&self.path)?;
        std::fs::rename(&self.path, output)
            .map_err(|e| Error::io(output, "cannot rename the temporary output over", &e))?;
        self.done = true;
        if let Some(dir) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
            // Makes the rename durable; not all platforms allow syncing a directory.
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(unix)]
fn set_mode_755(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(path, "cannot make it executable", &e))
}

#[cfg(not(unix))]
fn set_mode_755(_path: &Path) -> Result<(), Error> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn metadata() -> BundleMetadata {
        BundleMetadata {
            name: "b".into(),
            version: None,
            sdk_language: "rust".into(),
            sdk_version: "0.1.0".into(),
            supervisor_schema_version: SUPERVISOR_SCHEMA_VERSION.into(),
            source: None,
            dags: BTreeMap::from([("d".to_owned(), vec!["t".to_owned()])]),
        }
    }

    #[test]
    fn binary_metadata_checks() {
        assert_eq!(SUPERVISOR_SCHEMA_VERSION, "2026-06-16");
        assert!(check_binary_metadata(&metadata()).is_ok());
        let mut m = metadata();
        m.supervisor_schema_version = "2026-10-30".into();
        assert!(check_binary_metadata(&m)
            .unwrap_err()
            .contains("declares supervisor schema \"2026-10-30\""));
        let mut m = metadata();
        m.dags.clear();
        assert!(check_binary_metadata(&m).unwrap_err().contains("no DAG"));
        let mut m = metadata();
        m.dags.insert("e".into(), vec![String::new()]);
        assert!(check_binary_metadata(&m).unwrap_err().contains("empty id"));
    }
}
