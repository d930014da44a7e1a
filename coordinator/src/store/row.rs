//! Statements' values and rows for either driver. The claim's statements run on sqlx's `Any`
//! pool and, on a SQLite file, on the claim's own rusqlite connection (`sqlite_claim.rs`):
//! each one's text, values and row decoding are written once, here and beside its table.

use rusqlite::types::ToSqlOutput;
use sqlx::Row as _;
use sqlx::any::{AnyArguments, AnyRow};

use crate::error::CoordinatorError;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value {
    /// An integer (ids, counts, epoch milliseconds), or NULL.
    Int(Option<i64>),
    /// A float (percents, amounts), or NULL.
    Real(Option<f64>),
    /// Text, or NULL.
    Text(Option<String>),
}

impl Value {
    /// A non-NULL integer.
    pub(super) fn int(v: impl Into<i64>) -> Self {
        Value::Int(Some(v.into()))
    }

    /// Non-NULL text.
    pub(super) fn text(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}

/// A statement: its text and its values in order.
pub(super) type Statement = (String, Vec<Value>);

/// `sql` with `values` bound in order, for sqlx.
pub(super) fn sqlx_query(
    (sql, values): Statement,
) -> sqlx::query::Query<'static, sqlx::Any, AnyArguments> {
    // Texts are built from constants and placeholder numbers only; every value is bound.
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for v in values {
        q = match v {
            Value::Int(v) => q.bind(v),
            Value::Real(v) => q.bind(v),
            Value::Text(v) => q.bind(v),
        };
    }
    q
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Value::Int(v) => v.to_sql(),
            Value::Real(v) => v.to_sql(),
            Value::Text(v) => v.to_sql(),
        }
    }
}

/// A row's columns by name, from either driver.
pub(super) trait Columns {
    /// An integer column.
    fn int(&self, col: &str) -> Result<i64, CoordinatorError>;
    /// A nullable integer column.
    fn int_opt(&self, col: &str) -> Result<Option<i64>, CoordinatorError>;
    /// A nullable float column.
    fn real_opt(&self, col: &str) -> Result<Option<f64>, CoordinatorError>;
    /// A text column.
    fn text(&self, col: &str) -> Result<String, CoordinatorError>;
    /// A nullable text column.
    fn text_opt(&self, col: &str) -> Result<Option<String>, CoordinatorError>;
}

impl Columns for AnyRow {
    fn int(&self, col: &str) -> Result<i64, CoordinatorError> {
        Ok(self.try_get(col)?)
    }
    fn int_opt(&self, col: &str) -> Result<Option<i64>, CoordinatorError> {
        Ok(self.try_get(col)?)
    }
    fn real_opt(&self, col: &str) -> Result<Option<f64>, CoordinatorError> {
        Ok(self.try_get(col)?)
    }
    fn text(&self, col: &str) -> Result<String, CoordinatorError> {
        Ok(self.try_get(col)?)
    }
    fn text_opt(&self, col: &str) -> Result<Option<String>, CoordinatorError> {
        Ok(self.try_get(col)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, col: &str) -> Result<i64, CoordinatorError> {
        Ok(self.get(col)?)
    }
    fn int_opt(&self, col: &str) -> Result<Option<i64>, CoordinatorError> {
        Ok(self.get(col)?)
    }
    fn real_opt(&self, col: &str) -> Result<Option<f64>, CoordinatorError> {
        Ok(self.get(col)?)
    }
    fn text(&self, col: &str) -> Result<String, CoordinatorError> {
        Ok(self.get(col)?)
    }
    fn text_opt(&self, col: &str) -> Result<Option<String>, CoordinatorError> {
        Ok(self.get(col)?)
    }
}
