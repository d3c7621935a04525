//! A table row (any composite value) → the pipeline's input values, by attribute name.
//!
//! This is the fast path of serving: the row is deformed once and each needed attribute is
//! decoded from its binary form, with no jsonb built or parsed per row. The mapping from
//! the pipeline's features to the row type's attributes is computed once per
//! (pipeline, row type) and kept until either changes.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use pgrx::pg_sys;

use crate::api::errors::{raise, raise_with};
use crate::pipeline::artifact::FittedPipeline;
use crate::pipeline::column::ColumnKind;
use crate::pipeline::error::PipelineError;
use crate::pipeline::predict::FeatureValue;
use crate::source::{untoasted, Decoder};

/// Where a feature is found in the row type, and how to decode it.
#[derive(Clone, Copy)]
struct Slot {
    attribute: usize,
    decoder: Decoder,
}

struct Mapping {
    /// A weak reference rather than an address: it keeps the allocation from being reused
    /// by another pipeline while the mapping exists, so equal pointers mean the same one.
    pipeline: Weak<FittedPipeline>,
    type_id: pg_sys::Oid,
    typmod: i32,
    slots: Rc<Vec<Slot>>,
}

thread_local! {
    static LAST_MAPPING: RefCell<Option<Mapping>> = const { RefCell::new(None) };
}

/// Decodes the features of `pipeline` from the composite `datum`.
///
/// # Safety
/// `datum` must be a non-NULL composite value. The returned text slices point into memory
/// of the current (per-call) memory context and must not outlive the calling function.
pub unsafe fn row_values<'a>(
    pipeline: &Rc<FittedPipeline>,
    datum: pg_sys::Datum,
) -> Vec<FeatureValue<'a>> {
    let header = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as pg_sys::HeapTupleHeader;
    let fields = (*header).t_choice.t_datum;
    let (type_id, typmod) = (fields.datum_typeid, fields.datum_typmod);
    let desc = pg_sys::lookup_rowtype_tupdesc(type_id, typmod);
    let natts = (*desc).natts as usize;
    let slots = slots_for(pipeline, desc, type_id, typmod);

    let mut tuple = pg_sys::HeapTupleData {
        t_len: (fields.datum_len_ as u32) & 0x3FFF_FFFF,
        t_data: header,
        ..Default::default()
    };
    let mut values = vec![pg_sys::Datum::from(0usize); natts];
    let mut nulls = vec![true; natts];
    pg_sys::heap_deform_tuple(&mut tuple, desc, values.as_mut_ptr(), nulls.as_mut_ptr());
    pg_sys::DecrTupleDescRefCount(desc);

    pipeline
        .features
        .iter()
        .zip(slots.iter())
        .map(|(feature, slot)| {
            if nulls[slot.attribute] {
                return FeatureValue::Null;
            }
            let value = values[slot.attribute];
            match slot.decoder {
                Decoder::Text | Decoder::BpChar => {
                    let bytes = pgrx::varlena::varlena_to_byte_slice(untoasted(value));
                    let s = std::str::from_utf8(bytes).unwrap_or_else(|_| {
                        raise(&PipelineError::BadFeatureValue {
                            key: feature.name.clone(),
                            reason: "is not valid UTF-8".into(),
                        })
                    });
                    FeatureValue::Text(if slot.decoder == Decoder::BpChar {
                        s.trim_end_matches(' ')
                    } else {
                        s
                    })
                }
                Decoder::Enum { output_fn } => {
                    let label = pg_sys::OidOutputFunctionCall(output_fn, value);
                    FeatureValue::Text(std::ffi::CStr::from_ptr(label).to_str().unwrap_or(""))
                }
                decoder => match decoder.number(value, &feature.name) {
                    Ok(x) => FeatureValue::Number(x),
                    Err(e) => raise(&e),
                },
            }
        })
        .collect()
}

/// The cached feature → attribute mapping, rebuilt when the pipeline or row type changes.
unsafe fn slots_for(
    pipeline: &Rc<FittedPipeline>,
    desc: pg_sys::TupleDesc,
    type_id: pg_sys::Oid,
    typmod: i32,
) -> Rc<Vec<Slot>> {
    let key = Rc::downgrade(pipeline);
    let cached = LAST_MAPPING.with_borrow(|m| match m {
        Some(m) if m.pipeline.ptr_eq(&key) && m.type_id == type_id && m.typmod == typmod => {
            Some(Rc::clone(&m.slots))
        }
        _ => None,
    });
    if let Some(slots) = cached {
        return slots;
    }
    let attributes = pgrx::PgTupleDesc::from_pg_unchecked(desc);
    let slots: Vec<Slot> = pipeline
        .features
        .iter()
        .map(|feature| {
            let found = attributes
                .iter()
                .enumerate()
                .find(|(_, a)| !a.is_dropped() && a.name() == feature.name);
            let Some((attribute, attr)) = found else {
                raise(&PipelineError::MissingFeature(feature.name.clone()))
            };
            let decoder = Decoder::for_type(attr.type_oid().value());
            let fits = match decoder {
                Some(d) => {
                    (d.kind() == ColumnKind::Categorical)
                        == (feature.kind == ColumnKind::Categorical)
                }
                None => false,
            };
            match decoder {
                Some(decoder) if fits => Slot { attribute, decoder },
                _ => raise_with(
                    pgrx::PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
                    &format!(
                        "feature \"{}\": was trained as {} but the row's column has another \
                         kind of type",
                        feature.name, feature.sql_type
                    ),
                    None,
                ),
            }
        })
        .collect();
    let slots = Rc::new(slots);
    LAST_MAPPING.with_borrow_mut(|m| {
        *m = Some(Mapping {
            pipeline: key,
            type_id,
            typmod,
            slots: Rc::clone(&slots),
        })
    });
    slots
}
