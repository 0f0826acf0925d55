//! The one error type of the library API: every hand-written loss and optimizer returns it.
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// An argument that libtorch would reject too; the message says which and why.
    InvalidArgument(String),
    /// libtorch raised a C++ exception (only its first line is kept: the rest is a backtrace).
    Torch(String),
    /// A reference that cannot run here (no Python, say): recorded values stand in for it.
    Unavailable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(message) => write!(f, "invalid argument: {message}"),
            Error::Torch(message) => write!(f, "libtorch: {message}"),
            Error::Unavailable(message) => write!(f, "unavailable: {message}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<tch::TchError> for Error {
    fn from(error: tch::TchError) -> Self {
        Error::Torch(torch_message(&error))
    }
}

/// The message of a libtorch exception without the C++ backtrace that follows it.
pub fn torch_message(error: &tch::TchError) -> String {
    let text = match error {
        tch::TchError::Torch(text) => text.clone(),
        other => other.to_string(),
    };
    let end = text.find("\nException raised from").unwrap_or(text.len());
    text[..end].trim().to_owned()
}

/// `Err(Error::InvalidArgument(..))` with a formatted message.
macro_rules! invalid {
    ($($arg:tt)*) => {
        Err($crate::error::Error::InvalidArgument(format!($($arg)*)))
    };
}
pub(crate) use invalid;

/// Runs `f`, turning a panic into `Err("panicked: <message>")`: a libtorch call that panics
/// inside tch is a failed check with its message, and every other case still runs.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> std::result::Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let message = if let Some(s) = panic.downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = panic.downcast_ref::<String>() {
            // tch's panicking methods carry libtorch's whole message, backtrace included.
            s.split("\nException raised from").next().unwrap_or(s).to_owned()
        } else {
            "unknown panic".to_owned()
        };
        format!("panicked: {message}")
    })
}
