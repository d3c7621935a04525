//! Per-column decoders chosen once from the result's type OIDs.
//!
//! Each datum is decoded straight from its binary form; pgrx's `FromDatum` would refuse to
//! read an int4 or numeric column as f64, and going through text would cost a parse per cell.

use std::collections::HashMap;

use pgrx::pg_sys;
use pgrx::varlena;

use crate::pipeline::column::{push_number, CodeBuilder, ColumnKind, ColumnValues, InputColumn};
use crate::pipeline::error::{PipelineError, Result};

/// Seconds between 1970-01-01 (Unix epoch) and 2000-01-01 (Postgres epoch).
const POSTGRES_EPOCH_UNIX_SECONDS: f64 = 946_684_800.0;

/// How one column's datums become numbers or text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoder {
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Numeric,
    Bool,
    /// text and varchar.
    Text,
    /// char(n): trailing blanks carry no meaning and are dropped.
    BpChar,
    /// Any enum type, decoded through its output function once per label.
    Enum {
        output_fn: pg_sys::Oid,
    },
    Date,
    Timestamp,
}

impl Decoder {
    /// Picks the decoder for `type_oid` (domains resolve to their base type).
    pub fn for_type(type_oid: pg_sys::Oid) -> Option<Self> {
        // SAFETY: catalog lookups on a valid type OID taken from a tuple descriptor.
        let base = unsafe { pg_sys::getBaseType(type_oid) };
        Some(match base {
            pg_sys::INT2OID => Self::Int2,
            pg_sys::INT4OID => Self::Int4,
            pg_sys::INT8OID => Self::Int8,
            pg_sys::FLOAT4OID => Self::Float4,
            pg_sys::FLOAT8OID => Self::Float8,
            pg_sys::NUMERICOID => Self::Numeric,
            pg_sys::BOOLOID => Self::Bool,
            pg_sys::TEXTOID | pg_sys::VARCHAROID | pg_sys::NAMEOID => Self::Text,
            pg_sys::BPCHAROID => Self::BpChar,
            pg_sys::DATEOID => Self::Date,
            pg_sys::TIMESTAMPOID | pg_sys::TIMESTAMPTZOID => Self::Timestamp,
            other if unsafe { pg_sys::type_is_enum(other) } => {
                let (mut output_fn, mut is_varlena) = (pg_sys::InvalidOid, false);
                // SAFETY: `other` is a valid type OID; both out-pointers are live locals.
                unsafe { pg_sys::getTypeOutputInfo(other, &mut output_fn, &mut is_varlena) };
                Self::Enum { output_fn }
            }
            _ => return None,
        })
    }

    pub fn kind(self) -> ColumnKind {
        match self {
            Self::Bool => ColumnKind::Boolean,
            Self::Text | Self::BpChar | Self::Enum { .. } => ColumnKind::Categorical,
            Self::Date | Self::Timestamp => ColumnKind::Temporal,
            _ => ColumnKind::Numeric,
        }
    }

    /// Whether the column can be a regression target.
    pub fn is_numeric(self) -> bool {
        self.kind() == ColumnKind::Numeric
    }

    /// Decodes a non-NULL numeric-like datum. NaN and infinities are errors naming `column`.
    ///
    /// # Safety
    /// `datum` must be a non-NULL value of the type this decoder was chosen for.
    pub unsafe fn number(self, datum: pg_sys::Datum, column: &str) -> Result<f64> {
        let value = match self {
            Self::Int2 => f64::from(datum.value() as i16),
            Self::Int4 => f64::from(datum.value() as i32),
            Self::Int8 => datum.value() as i64 as f64,
            Self::Float4 => f64::from(f32::from_bits(datum.value() as u32)),
            Self::Float8 => f64::from_bits(datum.value() as u64),
            Self::Numeric => numeric_to_f64(datum),
            Self::Bool => f64::from(u8::from(datum.value() != 0)),
            Self::Date => {
                let days = datum.value() as i32;
                if days == i32::MAX || days == i32::MIN {
                    return Err(infinite(column));
                }
                (f64::from(days)) * 86_400.0 + POSTGRES_EPOCH_UNIX_SECONDS
            }
            Self::Timestamp => {
                let micros = datum.value() as i64;
                if micros == i64::MAX || micros == i64::MIN {
                    return Err(infinite(column));
                }
                micros as f64 / 1e6 + POSTGRES_EPOCH_UNIX_SECONDS
            }
            Self::Text | Self::BpChar | Self::Enum { .. } => f64::NAN,
        };
        if value.is_finite() {
            Ok(value)
        } else {
            Err(PipelineError::NonFiniteValue {
                column: column.to_string(),
                value: if value.is_nan() {
                    "NaN".into()
                } else {
                    format!("{value}")
                },
            })
        }
    }
}

/// numeric → f64 without the text round trip Postgres' own `numeric_float8` makes.
///
/// A numeric is a sign, a weight and base-10000 digits. When the digits fit in 53 bits and
/// the decimal exponent is within ±22, the value is an exact integer times an exact power
/// of ten, so one multiplication or division rounds it correctly: the same f64 that
/// `numeric_float8` returns. Everything else (more digits, NaN, infinities) takes the
/// exact slow path.
///
/// # Safety
/// `datum` must be a non-NULL numeric.
unsafe fn numeric_to_f64(datum: pg_sys::Datum) -> f64 {
    const SIGN_MASK: u16 = 0xC000;
    const NEGATIVE: u16 = 0x4000;
    const SHORT: u16 = 0x8000;
    const SHORT_SIGN: u16 = 0x2000;
    const SHORT_WEIGHT_SIGN: u16 = 0x0040;
    const SHORT_WEIGHT_MASK: u16 = 0x003F;
    const POW10: [f64; 23] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
        1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ];
    let slow = || {
        pgrx::direct_function_call::<f64>(pg_sys::numeric_float8, &[Some(datum)])
            .unwrap_or(f64::NAN)
    };
    let bytes = varlena::varlena_to_byte_slice(untoasted(datum));
    let word = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
    };
    let Some(header) = word(0) else { return slow() };
    let (negative, weight, digits_at) = match header & SIGN_MASK {
        SHORT => {
            let magnitude = i32::from(header & SHORT_WEIGHT_MASK);
            let weight = if header & SHORT_WEIGHT_SIGN != 0 {
                magnitude - 64
            } else {
                magnitude
            };
            (header & SHORT_SIGN != 0, weight, 2)
        }
        0 | NEGATIVE => match word(2) {
            Some(w) => (header & SIGN_MASK == NEGATIVE, i32::from(w as i16), 4),
            None => return slow(),
        },
        _ => return slow(), // NaN and infinities
    };
    let digits = &bytes[digits_at.min(bytes.len())..];
    let count = digits.len() / 2;
    if count == 0 {
        return 0.0;
    }
    if count > 4 {
        return slow();
    }
    let mut integer: u64 = 0;
    for pair in digits.chunks_exact(2) {
        integer = integer * 10_000 + u64::from(u16::from_ne_bytes([pair[0], pair[1]]));
    }
    if integer >= 1 << 53 {
        return slow();
    }
    let exponent = 4 * (weight - (count as i32 - 1));
    let magnitude = match exponent {
        0..=22 => integer as f64 * POW10[exponent as usize],
        -22..=-1 => integer as f64 / POW10[(-exponent) as usize],
        _ => return slow(),
    };
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// A varlena datum in a form whose bytes can be read in place (short headers allowed).
///
/// Values stored inline and uncompressed, nearly all of them in a heap row, are returned as
/// they are. Only compressed or out-of-line values go through `pg_detoast_datum_packed`,
/// which may allocate in the current memory context and is a guarded call into Postgres
/// (a `sigsetjmp` each): per cell, that call cost more than decoding the value.
///
/// # Safety
/// `datum` must be a non-NULL varlena datum.
pub unsafe fn untoasted(datum: pg_sys::Datum) -> *mut pg_sys::varlena {
    let raw: *mut pg_sys::varlena = datum.cast_mut_ptr();
    if varlena::varatt_is_1b_e(raw) || varlena::varatt_is_4b_c(raw) {
        pg_sys::pg_detoast_datum_packed(raw)
    } else {
        raw
    }
}

fn infinite(column: &str) -> PipelineError {
    PipelineError::NonFiniteValue {
        column: column.to_string(),
        value: "infinity".into(),
    }
}

/// Accumulates one feature column's cells.
pub struct ColumnBuilder {
    pub name: String,
    pub sql_type: String,
    pub decoder: Decoder,
    numbers: Vec<f64>,
    codes: CodeBuilder,
    /// Enum label OID → code, so each label's output function runs once.
    enum_codes: HashMap<u64, u32>,
}

impl ColumnBuilder {
    pub fn new(name: String, sql_type: String, decoder: Decoder) -> Self {
        Self {
            name,
            sql_type,
            decoder,
            numbers: Vec::new(),
            codes: CodeBuilder::default(),
            enum_codes: HashMap::new(),
        }
    }

    /// Appends one cell.
    ///
    /// # Safety
    /// `datum` must be a value of this column's type when `is_null` is false.
    pub unsafe fn push(&mut self, datum: pg_sys::Datum, is_null: bool) -> Result<()> {
        match self.decoder {
            Decoder::Text | Decoder::BpChar => {
                if is_null {
                    return self.codes.push(None);
                }
                let bytes = varlena::varlena_to_byte_slice(untoasted(datum));
                // Validating is fast; the lossy conversion only runs for invalid bytes.
                let value = match std::str::from_utf8(bytes) {
                    Ok(valid) => std::borrow::Cow::Borrowed(valid),
                    Err(_) => String::from_utf8_lossy(bytes),
                };
                let value = if self.decoder == Decoder::BpChar {
                    value.trim_end_matches(' ')
                } else {
                    &value
                };
                self.codes.push(Some(value))
            }
            Decoder::Enum { output_fn } => {
                if is_null {
                    return self.codes.push(None);
                }
                let code = match self.enum_codes.get(&(datum.value() as u64)) {
                    Some(&code) => code,
                    None => {
                        let label = pg_sys::OidOutputFunctionCall(output_fn, datum);
                        let label = std::ffi::CStr::from_ptr(label).to_string_lossy();
                        let code = self.codes.intern(&label)?;
                        self.enum_codes.insert(datum.value() as u64, code);
                        code
                    }
                };
                self.codes.push_code(code)
            }
            _ => {
                let value = if is_null {
                    f64::NAN
                } else {
                    self.decoder.number(datum, &self.name)?
                };
                push_number(&mut self.numbers, value)
            }
        }
    }

    pub fn finish(self) -> InputColumn {
        let kind = self.decoder.kind();
        let values = if kind == ColumnKind::Categorical {
            self.codes.finish()
        } else {
            ColumnValues::Numbers(self.numbers)
        };
        InputColumn {
            name: self.name,
            sql_type: self.sql_type,
            kind,
            values,
        }
    }
}

/// The SQL name of a type, as Postgres prints it (`integer`, `character varying`, …).
pub fn type_name(type_oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_be accepts any OID and returns a palloc'd C string.
    unsafe {
        let name = pg_sys::format_type_be(type_oid);
        std::ffi::CStr::from_ptr(name)
            .to_string_lossy()
            .into_owned()
    }
}
