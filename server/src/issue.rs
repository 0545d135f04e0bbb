//! One problem with a request's content: the field and the rule it breaks.
//! A leaf: the domain's checks (a job's rules) and the HTTP answers both use
//! it, and it uses neither.

use serde::Serialize;

/// One problem with a request's content.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct FieldIssue {
    /// The field, as a JSON path or a site key (`battery.soc_max_kwh`).
    pub field: String,
    /// The rule it breaks.
    pub message: String,
}

impl FieldIssue {
    /// An issue with `field`.
    pub fn new(field: &str, message: impl Into<String>) -> FieldIssue {
        FieldIssue {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}
