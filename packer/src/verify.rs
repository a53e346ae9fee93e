//! Reading a bundle file back: its layout and hashes ([`read_bundle`], shown by `inspect`),
//! and every check Airflow 1.3.2 makes before it would run it ([`verify`]).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use airflow_protocol::bundle::{
    self, hex, BundleError, BundleLayout, Trailer, FOOTER_VERSION, MAGIC, TRAILER_LEN,
};
use sha2::{Digest, Sha256};

use crate::metadata::{self, MetadataSummary};
use crate::Error;

/// A bundle file's layout, hashes and regions, read without judging them.
#[derive(Debug, Clone)]
pub struct BundleFile {
    /// The file.
    pub path: PathBuf,
    /// Its length in bytes.
    pub file_len: u64,
    /// Where its regions are, and the trailer.
    pub layout: BundleLayout,
    /// The SHA-256 of the executable region as it is now (compare `layout.trailer`).
    pub executable_sha256: [u8; 32],
    /// The embedded source.
    pub source: Vec<u8>,
    /// The metadata YAML bytes.
    pub metadata: Vec<u8>,
    /// Unix permission bits.
    pub mode: u32,
}

impl BundleFile {
    /// Whether the executable region still hashes to the digest in the trailer.
    pub fn digest_matches(&self) -> bool {
        self.executable_sha256 == self.layout.trailer.binary_sha256
    }
}

/// SHA-256 of the first `len` bytes of a reader, read in 1 MiB chunks.
pub fn sha256_prefix(reader: &mut impl Read, len: u64) -> std::io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    let copied = std::io::copy(&mut reader.take(len), &mut HashWriter(&mut hasher))?;
    if copied != len {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the file ended after {copied} of {len} bytes"),
        ));
    }
    Ok(hasher.finalize().into())
}

/// SHA-256 of bytes in memory.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// An `io::Write` that feeds a hasher.
pub(crate) struct HashWriter<'a>(pub(crate) &'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Turns a trailer error into a located, readable one.
pub(crate) fn trailer_error(path: &Path, file_len: u64, error: &BundleError) -> Error {
    let trailer_start = file_len.saturating_sub(TRAILER_LEN as u64);
    let bytes =
        |from: u64, to: u64| format!("bytes {}..{}", trailer_start + from, trailer_start + to);
    match error {
        BundleError::TooShort { len } => Error::new(
            path,
            format!(
                "truncated or not a bundle: {len} bytes is shorter than the {TRAILER_LEN}-byte \
                 AFBNDL01 trailer"
            ),
        )
        .at(format!("bytes 0..{len}")),
        BundleError::BadMagic { found } => Error::new(
            path,
            format!(
                "bad magic: not an AFBNDL01 bundle (the last 8 bytes are \"{}\", not \"{}\")",
                found.escape_ascii(),
                MAGIC.escape_ascii()
            ),
        )
        .at(bytes(56, 64)),
        BundleError::UnsupportedVersion(v) => Error::new(
            path,
            format!("unsupported footer version {v} (Airflow 1.3.2 reads only {FOOTER_VERSION})"),
        )
        .at(bytes(8, 12)),
        BundleError::ReservedNotZero => {
            Error::new(path, "the trailer's reserved bytes are not all zero").at(bytes(44, 56))
        }
        BundleError::BadLengths {
            source_len,
            metadata_len,
            ..
        } => {
            let declared = u64::from(*source_len) + u64::from(*metadata_len);
            let what = if declared > trailer_start {
                format!(
                    "truncated: the trailer declares {source_len} source + {metadata_len} metadata \
                     bytes, but only {trailer_start} bytes precede it"
                )
            } else {
                format!(
                    "the trailer's lengths (source {source_len}, metadata {metadata_len}) leave no \
                     executable before them"
                )
            };
            Error::new(path, what).at(format!("{}: source_len, metadata_len", bytes(0, 8)))
        }
        BundleError::HashMismatch { expected, actual } => Error::new(
            path,
            format!(
                "executable SHA-256 mismatch: the executable region hashes to {}, the trailer \
                 records {}",
                hex(actual),
                hex(expected)
            ),
        )
        .at(format!("trailer {}", bytes(12, 44))),
        other => Error::new(path, other.to_string()),
    }
}

/// Reads a bundle's trailer, checks its layout, hashes its executable region and reads its
/// source and metadata. Fails on anything that stops the layout being known: a file too short,
/// a bad magic, an unsupported footer version, non-zero reserved bytes, impossible lengths.
/// A digest mismatch is not an error here (see [`BundleFile::digest_matches`]).
pub fn read_bundle(path: &Path) -> Result<BundleFile, Error> {
    let mut file = File::open(path).map_err(|e| Error::io(path, "cannot open", &e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(path, "cannot stat", &e))?;
    if !meta.is_file() {
        return Err(Error::new(path, "not a regular file"));
    }
    let file_len = meta.len();
    let layout = read_trailer(&mut file, path, file_len)?;
    let read_err = |e: std::io::Error| Error::io(path, "cannot read", &e);
    file.seek(SeekFrom::Start(0)).map_err(read_err)?;
    let executable_sha256 = sha256_prefix(&mut file, layout.executable.end).map_err(read_err)?;
    let mut source = Vec::new();
    (&mut file)
        .take(layout.source.end - layout.source.start)
        .read_to_end(&mut source)
        .map_err(read_err)?;
    let mut metadata = Vec::new();
    (&mut file)
        .take(layout.metadata.end - layout.metadata.start)
        .read_to_end(&mut metadata)
        .map_err(read_err)?;
    if metadata.len() as u64 != layout.metadata.end - layout.metadata.start {
        return Err(Error::new(path, "the file changed while it was read"));
    }
    Ok(BundleFile {
        path: path.to_path_buf(),
        file_len,
        layout,
        executable_sha256,
        source,
        metadata,
        mode: mode_of(&meta),
    })
}

/// Reads and checks the trailer of an open file of `file_len` bytes.
pub(crate) fn read_trailer(
    file: &mut File,
    path: &Path,
    file_len: u64,
) -> Result<BundleLayout, Error> {
    let trailer_start = file_len
        .checked_sub(TRAILER_LEN as u64)
        .ok_or_else(|| trailer_error(path, file_len, &BundleError::TooShort { len: file_len }))?;
    let mut bytes = [0u8; TRAILER_LEN];
    file.seek(SeekFrom::Start(trailer_start))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| Error::io(path, "cannot read the trailer", &e))?;
    Trailer::parse(&bytes)
        .and_then(|t| t.layout(file_len))
        .map_err(|e| trailer_error(path, file_len, &e))
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode_of(_meta: &std::fs::Metadata) -> u32 {
    0o755
}

/// Whether the current user may execute `path`: `access(X_OK)`, as Airflow's `os.access`.
#[cfg(unix)]
pub fn executable_by_me(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::X_OK) == 0 }
}

/// Whether the current user may execute `path` (always true off Unix).
#[cfg(not(unix))]
pub fn executable_by_me(_path: &Path) -> bool {
    true
}

/// What a successful [`verify`] found.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The bundle as read.
    pub bundle: BundleFile,
    /// What its metadata says.
    pub metadata: MetadataSummary,
}

/// Checks a bundle the way Airflow 1.3.2's `ExecutableCoordinator` would before running it,
/// plus what the format requires of the source: magic, footer version, reserved bytes and
/// lengths; the executable's SHA-256; UTF-8 source; metadata that is a YAML mapping with
/// string DAG ids and an accepted `sdk.supervisor_schema_version`; and that the current user
/// may execute the file. The first failure is returned.
pub fn verify(path: &Path) -> Result<Verified, Error> {
    let bundle = read_bundle(path)?;
    let layout = &bundle.layout;
    bundle::check_digest(layout, bundle.executable_sha256).map_err(|e| {
        let mut error = trailer_error(path, bundle.file_len, &e);
        error.at = Some(format!(
            "bytes 0..{} hashed; {}",
            layout.executable.end,
            error.at.unwrap_or_default()
        ));
        error
    })?;
    let metadata_range = format!("bytes {}..{}", layout.metadata.start, layout.metadata.end);
    let metadata = metadata::check(&bundle.metadata).map_err(|p| {
        let at = match p.at {
            Some(loc) => format!("{loc}; metadata is {metadata_range}"),
            None => metadata_range.clone(),
        };
        Error::new(path, format!("bad metadata: {}", p.what)).at(at)
    })?;
    if let Err(e) = std::str::from_utf8(&bundle.source) {
        return Err(
            Error::new(path, "the embedded source is not UTF-8").at(format!(
                "byte {}",
                layout.source.start + e.valid_up_to() as u64
            )),
        );
    }
    if !executable_by_me(path) {
        return Err(Error::new(
            path,
            format!(
                "not executable for the current user (mode {:04o}): Airflow's \
                 ExecutableCoordinator skips it; chmod +x it",
                bundle.mode
            ),
        ));
    }
    Ok(Verified { bundle, metadata })
}

/// The `inspect` report: layout, hashes, and the metadata YAML.
pub fn describe(bundle: &BundleFile) -> String {
    let l = &bundle.layout;
    let t = &l.trailer;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "bundle      {} ({} bytes, mode {:04o})",
        bundle.path.display(),
        bundle.file_len,
        bundle.mode
    );
    let _ = writeln!(
        out,
        "executable  bytes {}..{} ({} bytes)",
        l.executable.start,
        l.executable.end,
        l.executable.end - l.executable.start
    );
    let _ = writeln!(out, "  sha256    {} (trailer)", hex(&t.binary_sha256));
    if bundle.digest_matches() {
        let _ = writeln!(out, "            matches the executable region");
    } else {
        let _ = writeln!(
            out,
            "            MISMATCH: the executable region hashes to {}",
            hex(&bundle.executable_sha256)
        );
    }
    let _ = writeln!(
        out,
        "source      bytes {}..{} ({} bytes), sha256 {}",
        l.source.start,
        l.source.end,
        t.source_len,
        hex(&sha256(&bundle.source))
    );
    let _ = writeln!(
        out,
        "metadata    bytes {}..{} ({} bytes), sha256 {}",
        l.metadata.start,
        l.metadata.end,
        t.metadata_len,
        hex(&sha256(&bundle.metadata))
    );
    let _ = writeln!(
        out,
        "trailer     bytes {}..{} (footer version {FOOTER_VERSION}, magic AFBNDL01)",
        l.metadata.end, bundle.file_len
    );
    let _ = writeln!(out, "metadata YAML:");
    match std::str::from_utf8(&bundle.metadata) {
        Ok(text) => {
            out.push_str(text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
        Err(_) => {
            let _ = writeln!(
                out,
                "(not UTF-8) {}",
                String::from_utf8_lossy(&bundle.metadata)
            );
        }
    }
    out
}
