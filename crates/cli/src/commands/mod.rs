//! One module per command group. Each returns `Ok(true)` on success, `Ok(false)` for a negative result
//! (a failed self-test), or an error that names the problem.

mod bench;
mod compare;
mod device;
pub mod engine;
mod inspect;
mod race;
mod run;
mod text;

pub use bench::{bench, BenchShape};
pub use compare::compare;
pub use device::device;
pub use inspect::{inspect, memory};
pub use race::race;
pub use run::{generate, logits};
pub use text::{detokenize, tokenize};

use std::path::Path;

/// Any command error.
pub type CmdResult = Result<bool, Box<dyn std::error::Error>>;

/// The largest file a command reads into memory: 64 GiB, beyond any model this tool can run.
pub const MAX_FILE_BYTES: u64 = 1 << 36;

/// Reads a whole regular file, naming it on failure. A FIFO, a device (`/dev/zero`), a directory or a
/// socket is refused before it is opened: reading one would block forever or never end.
pub fn read(path: &Path) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    use std::io::Read;
    let named = |e: &dyn std::fmt::Display| format!("cannot read {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| named(&e))?;
    if !meta.is_file() {
        return Err(named(&format!("not a regular file ({})", file_kind(&meta.file_type()))).into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(named(&format!("{} bytes, more than the {MAX_FILE_BYTES} this tool reads", meta.len())).into());
    }
    let file = std::fs::File::open(path).map_err(|e| named(&e))?;
    let mut bytes = Vec::new();
    bytes.try_reserve_exact(meta.len() as usize).map_err(|_| named(&format!("no memory for {} bytes", meta.len())))?;
    // The length read at open bounds the read, even if the file grows meanwhile.
    file.take(meta.len()).read_to_end(&mut bytes).map_err(|e| named(&e))?;
    Ok(bytes)
}

fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a plain file"
    }
}

/// A failure to write the command's output: a closed pipe (`archrace inspect m.gguf | head`) or a full
/// disk. `main` ends quietly on a closed pipe and reports anything else.
#[derive(Debug)]
pub struct OutputError(pub std::io::Error);

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write output: {}", self.0)
    }
}

impl std::error::Error for OutputError {}

/// `print!` that returns an `OutputError` instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        write!(stdout, $($arg)*).and_then(|()| stdout.flush()).map_err($crate::commands::OutputError)
    }};
}

/// `println!` that returns an `OutputError` instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::commands::OutputError)
    }};
}

pub(crate) use {out, outln};

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), OutputError> {
    outln!("{}", serde_json::to_string_pretty(value).expect("serializable"))
}

/// Writes a warning to stderr; a closed stderr is not worth failing the command for.
pub fn warn(message: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "archrace: warning: {message}");
}

/// The race's statistic for timings (the median), shared with the page.
pub use archrace_model::race::median;
