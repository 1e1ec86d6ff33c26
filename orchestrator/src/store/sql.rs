//! The SQL both backends speak: a statement with `?N` parameters and values of five kinds.
//! The domain queries (`queries`, `scheduler`, `verify`) are written once against [`Sql`],
//! in SQL that SQLite and PostgreSQL read alike, so both backends share one semantics.
use crate::error::StoreError;

/// A parameter or column value.
#[derive(Clone, Debug, PartialEq)]
pub enum V {
    Null,
    I(i64),
    F(f64),
    T(String),
    B(Vec<u8>),
}

/// One transaction's statements. Implemented by each backend's open transaction.
pub trait Sql {
    /// Runs a statement; the rows it changed.
    fn exec(&mut self, sql: &str, p: &[V]) -> Result<u64, StoreError>;
    /// Runs a query; all its rows.
    fn rows(&mut self, sql: &str, p: &[V]) -> Result<Vec<Row>, StoreError>;
    /// Runs a query and hands its rows to `f` one at a time (SQLite streams them, so a scan
    /// of a large table is never one vector of rows).
    fn each(
        &mut self,
        sql: &str,
        p: &[V],
        f: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.rows(sql, p)?.into_iter().try_for_each(f)
    }
    /// Runs an `INSERT` into a table with an `id` key; the new row's id.
    fn insert_id(&mut self, sql: &str, p: &[V]) -> Result<i64, StoreError>;
    /// True on PostgreSQL (row locks: `FOR UPDATE SKIP LOCKED`).
    fn locks_rows(&self) -> bool;
}

/// The first row of a query, if any.
pub fn row(c: &mut dyn Sql, sql: &str, p: &[V]) -> Result<Option<Row>, StoreError> {
    Ok(c.rows(sql, p)?.into_iter().next())
}

/// A result row.
#[derive(Debug)]
pub struct Row(pub Vec<V>);

impl Row {
    pub fn get<T: FromV>(&self, i: usize) -> Result<T, StoreError> {
        let v = self
            .0
            .get(i)
            .ok_or_else(|| StoreError::Corrupt(format!("no column {i}")))?;
        T::from_v(v).ok_or_else(|| StoreError::Corrupt(format!("column {i}: unexpected {v:?}")))
    }
}

/// A Rust value read from a column.
pub trait FromV: Sized {
    fn from_v(v: &V) -> Option<Self>;
}

impl FromV for i64 {
    fn from_v(v: &V) -> Option<Self> {
        match v {
            V::I(i) => Some(*i),
            _ => None,
        }
    }
}
impl FromV for u64 {
    fn from_v(v: &V) -> Option<Self> {
        i64::from_v(v).and_then(|i| u64::try_from(i).ok())
    }
}
impl FromV for u32 {
    fn from_v(v: &V) -> Option<Self> {
        i64::from_v(v).and_then(|i| u32::try_from(i).ok())
    }
}
impl FromV for u16 {
    fn from_v(v: &V) -> Option<Self> {
        i64::from_v(v).and_then(|i| u16::try_from(i).ok())
    }
}
impl FromV for bool {
    fn from_v(v: &V) -> Option<Self> {
        i64::from_v(v).map(|i| i != 0)
    }
}
impl FromV for f64 {
    fn from_v(v: &V) -> Option<Self> {
        match v {
            V::F(f) => Some(*f),
            V::I(i) => Some(*i as f64),
            _ => None,
        }
    }
}
impl FromV for String {
    fn from_v(v: &V) -> Option<Self> {
        match v {
            V::T(s) => Some(s.clone()),
            _ => None,
        }
    }
}
impl FromV for Vec<u8> {
    fn from_v(v: &V) -> Option<Self> {
        match v {
            V::B(b) => Some(b.clone()),
            _ => None,
        }
    }
}
impl<T: FromV> FromV for Option<T> {
    fn from_v(v: &V) -> Option<Self> {
        match v {
            V::Null => Some(None),
            v => T::from_v(v).map(Some),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for V {
            fn from(x: $t) -> Self {
                V::I(x as i64)
            }
        }
    )*};
}
from_int!(i64, i32, u16, u32, u64);

impl From<f64> for V {
    fn from(x: f64) -> Self {
        V::F(x)
    }
}
impl From<&str> for V {
    fn from(x: &str) -> Self {
        V::T(x.to_string())
    }
}
impl From<&String> for V {
    fn from(x: &String) -> Self {
        V::T(x.clone())
    }
}
impl From<String> for V {
    fn from(x: String) -> Self {
        V::T(x)
    }
}
impl From<&[u8]> for V {
    fn from(x: &[u8]) -> Self {
        V::B(x.to_vec())
    }
}
impl<T: Into<V>> From<Option<T>> for V {
    fn from(x: Option<T>) -> Self {
        x.map_or(V::Null, Into::into)
    }
}

/// `p![a, b]`: statement parameters.
macro_rules! p {
    () => { &[] as &[$crate::store::sql::V] };
    ($($x:expr),+ $(,)?) => { &[$($crate::store::sql::V::from($x)),+][..] };
}
pub(crate) use p;

/// `?N` placeholders as PostgreSQL writes them (`$N`); the statements hold no `?` elsewhere.
pub fn to_dollar(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(|n| n.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_dollars() {
        assert_eq!(
            super::to_dollar("a=?1 AND b=?12 OR c='?'"),
            "a=$1 AND b=$12 OR c='?'"
        );
    }
}
