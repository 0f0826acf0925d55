//! Typed options. Every loss and optimizer with options has one struct of them, declared with
//! [`options!`](crate::options!), whose `Default` is PyTorch's defaults. The same struct is taken by
//! the hand-written function, by the libtorch reference, and (through [`Options`]) by the fixture
//! loader, the fuzzer and `tch-parity list`, so a default is written once.

use std::fmt;

/// An option's value as a fixture or the command line gives it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OptionValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Python's `None` (JSON `null`): "not set", for an option whose default is computed, such as
    /// Adafactor's `eps1` (the dtype's machine epsilon).
    None,
}

impl OptionValue {
    pub fn type_name(self) -> &'static str {
        match self {
            OptionValue::Bool(_) => "bool",
            OptionValue::Int(_) => "int",
            OptionValue::Float(_) => "float",
            OptionValue::None => "None",
        }
    }
}

impl fmt::Display for OptionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionValue::Bool(b) => write!(f, "{b}"),
            OptionValue::Int(i) => write!(f, "{i}"),
            OptionValue::Float(x) => write!(f, "{x:?}"),
            OptionValue::None => write!(f, "None"),
        }
    }
}

/// An option as a fixture or the command line gives it: its name and value.
pub type NamedValue = (String, OptionValue);

/// Every option of a struct with its value, in declaration order.
pub type Values = Vec<(&'static str, OptionValue)>;

/// One option: its name, PyTorch's default and what it does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptionSpec {
    pub name: &'static str,
    pub default: OptionValue,
    pub doc: &'static str,
}

/// A field type an option can have.
pub trait OptionType: Copy {
    fn to_value(self) -> OptionValue;
    fn from_value(value: OptionValue) -> Option<Self>;
}

impl OptionType for f64 {
    fn to_value(self) -> OptionValue {
        OptionValue::Float(self)
    }
    /// An integer is a float too (`"beta": 1` in a fixture).
    fn from_value(value: OptionValue) -> Option<Self> {
        match value {
            OptionValue::Float(x) => Some(x),
            OptionValue::Int(i) => Some(i as f64),
            OptionValue::Bool(_) | OptionValue::None => None,
        }
    }
}

/// An integer that may be `None` (Python's), as `LBFGS(max_eval=None)`.
impl OptionType for Option<i64> {
    fn to_value(self) -> OptionValue {
        self.map_or(OptionValue::None, OptionValue::Int)
    }
    fn from_value(value: OptionValue) -> Option<Self> {
        match value {
            OptionValue::None => Some(None),
            other => i64::from_value(other).map(Some),
        }
    }
}

/// A float that may be `None` (Python's), as `Adafactor(eps=(None, 1e-3))`'s first epsilon.
impl OptionType for Option<f64> {
    fn to_value(self) -> OptionValue {
        self.map_or(OptionValue::None, OptionValue::Float)
    }
    fn from_value(value: OptionValue) -> Option<Self> {
        match value {
            OptionValue::None => Some(None),
            other => f64::from_value(other).map(Some),
        }
    }
}

impl OptionType for i64 {
    fn to_value(self) -> OptionValue {
        OptionValue::Int(self)
    }
    fn from_value(value: OptionValue) -> Option<Self> {
        match value {
            OptionValue::Int(i) => Some(i),
            _ => None,
        }
    }
}

impl OptionType for bool {
    fn to_value(self) -> OptionValue {
        OptionValue::Bool(self)
    }
    fn from_value(value: OptionValue) -> Option<Self> {
        match value {
            OptionValue::Bool(b) => Some(b),
            _ => None,
        }
    }
}

/// A typed options struct, readable and writable by name.
pub trait Options: Default + Clone + fmt::Debug + 'static {
    /// Every option with its default (this type's `Default`) and doc.
    fn specs() -> Vec<OptionSpec>;
    fn get(&self, name: &str) -> Option<OptionValue>;
    /// Sets one option; an unknown name or a value of the wrong type is an error.
    fn set(&mut self, name: &str, value: OptionValue) -> Result<(), String>;

    /// The defaults with `values` set on top; the first unknown or ill-typed one is an error.
    fn from_values<'a>(values: impl IntoIterator<Item = (&'a str, OptionValue)>) -> Result<Self, String> {
        let mut options = Self::default();
        for (name, value) in values {
            options.set(name, value)?;
        }
        Ok(options)
    }

    /// The defaults with the named values set (as fixtures and catalogues give them).
    fn from_named(values: &[NamedValue]) -> Result<Self, String> {
        Self::from_values(values.iter().map(|(n, v)| (n.as_str(), *v)))
    }

    /// Every option's current value, in declaration order.
    fn values(&self) -> Values {
        Self::specs().into_iter().map(|s| (s.name, self.get(s.name).expect("a declared option"))).collect()
    }
}

/// The error for a name that is not an option of `T`.
pub fn unknown_option<T: Options>(name: &str) -> String {
    let known: Vec<&str> = T::specs().iter().map(|s| s.name).collect();
    let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
    format!("no option '{name}' (its options: {known})")
}

/// The error for a value of the wrong type.
pub fn wrong_type(name: &str, expected: OptionValue, found: OptionValue) -> String {
    format!("option '{name}' is a {}, found a {}", expected.type_name(), found.type_name())
}

/// For an op without options.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NoOptions;

impl Options for NoOptions {
    fn specs() -> Vec<OptionSpec> {
        Vec::new()
    }
    fn get(&self, _: &str) -> Option<OptionValue> {
        None
    }
    fn set(&mut self, name: &str, _: OptionValue) -> Result<(), String> {
        Err(unknown_option::<Self>(name))
    }
}

/// Declares an options struct: each field with its type, PyTorch's default and a one-line doc,
/// and derives `Default` (those defaults) and [`Options`](crate::options::Options).
///
/// ```
/// tch_parity::options! {
///     /// `torch.nn.HuberLoss`'s options.
///     pub struct HuberOptions {
///         /// Where the quadratic part ends; > 0.
///         pub delta: f64 = 1.0,
///     }
/// }
/// use tch_parity::options::Options;
/// assert_eq!(HuberOptions::default().delta, 1.0);
/// assert_eq!(HuberOptions::specs()[0].doc, "Where the quadratic part ends; > 0.");
/// ```
#[macro_export]
macro_rules! options {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[doc = $doc:literal])* $fvis:vis $field:ident : $ty:ty = $default:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq)]
        $vis struct $name {
            $(
                $(#[doc = $doc])*
                #[doc = ""]
                #[doc = concat!("Default: `", stringify!($default), "`.")]
                $fvis $field: $ty,
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name { $( $field: $default, )* }
            }
        }

        impl $crate::options::Options for $name {
            fn specs() -> Vec<$crate::options::OptionSpec> {
                let defaults = <Self as Default>::default();
                let _ = &defaults;
                vec![$( $crate::options::OptionSpec {
                    name: stringify!($field),
                    default: $crate::options::OptionType::to_value(defaults.$field),
                    doc: concat!($($doc),*).trim_ascii(),
                }, )*]
            }

            fn get(&self, name: &str) -> Option<$crate::options::OptionValue> {
                match name {
                    $( stringify!($field) => Some($crate::options::OptionType::to_value(self.$field)), )*
                    _ => None,
                }
            }

            fn set(&mut self, name: &str, value: $crate::options::OptionValue) -> Result<(), String> {
                match name {
                    $( stringify!($field) => {
                        self.$field = <$ty as $crate::options::OptionType>::from_value(value).ok_or_else(|| {
                            $crate::options::wrong_type(
                                name,
                                $crate::options::OptionType::to_value(self.$field),
                                value,
                            )
                        })?;
                        Ok(())
                    } )*
                    _ => {
                        let _ = value;
                        Err($crate::options::unknown_option::<Self>(name))
                    }
                }
            }
        }
    };
}
