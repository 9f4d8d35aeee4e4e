//! Stage 5: the result as plain data.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub schema_version: u32,
}
