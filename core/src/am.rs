//! The only module that speaks Automerge's object model: typed reads that notice conflicts,
//! and typed writes. The rest of the core works with these helpers and the model types.

use std::str::FromStr;

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ReadDoc, ScalarValue, Value};
use time::Date;
use time::macros::format_description;

use crate::error::{Error, Result};
use crate::item::ItemRef;

/// A closed set of values stored as a string.
pub(crate) trait StoredEnum: Sized + Copy {
    fn stored(self) -> &'static str;
    fn from_stored(s: &str) -> Option<Self>;
}

/// A field whose concurrent writes left more than one distinct value.
#[derive(Clone, Debug)]
pub(crate) struct RawConflict {
    pub item: ItemRef,
    /// The map key of the field (for a set member: the member).
    pub key: String,
    pub obj: ObjId,
}

/// Reads typed values out of a document and records every field that is in conflict, so
/// that one pass yields both the state shown (Automerge's deterministic winner) and the
/// list of choices a person still has to make.
pub(crate) struct Reader<'d, D: ReadDoc + ?Sized> {
    doc: &'d D,
    pub conflicts: Vec<RawConflict>,
}

pub(crate) fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).ok()
}

pub(crate) fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl<'d, D: ReadDoc + ?Sized> Reader<'d, D> {
    pub fn new(doc: &'d D) -> Self {
        Reader {
            doc,
            conflicts: Vec::new(),
        }
    }

    fn scalar(
        &mut self,
        obj: &ObjId,
        key: &'static str,
        item: &ItemRef,
    ) -> Result<Option<ScalarValue>> {
        self.raw_scalar(obj, key, item)
            .map_err(|()| malformed(item, key))
    }

    fn raw_scalar(
        &mut self,
        obj: &ObjId,
        key: &str,
        item: &ItemRef,
    ) -> Result<Option<ScalarValue>, ()> {
        let mut all = self.doc.get_all(obj, key).map_err(|_| ())?;
        if all.len() > 1 && all.iter().any(|(v, _)| *v != all[0].0) {
            self.conflicts.push(RawConflict {
                item: item.clone(),
                key: key.to_owned(),
                obj: obj.clone(),
            });
        }
        // Values come ordered by operation id; the last is the one `get` shows.
        match all.pop() {
            None => Ok(None),
            Some((Value::Scalar(v), _)) if matches!(v.as_ref(), ScalarValue::Null) => Ok(None),
            Some((Value::Scalar(v), _)) => Ok(Some(v.into_owned())),
            Some((Value::Object(_), _)) => Err(()),
        }
    }

    pub fn opt_str(
        &mut self,
        obj: &ObjId,
        key: &'static str,
        item: &ItemRef,
    ) -> Result<Option<String>> {
        match self.scalar(obj, key, item)? {
            None => Ok(None),
            Some(ScalarValue::Str(s)) => Ok(Some(s.to_string())),
            Some(_) => Err(malformed(item, key)),
        }
    }

    pub fn str(&mut self, obj: &ObjId, key: &'static str, item: &ItemRef) -> Result<String> {
        Ok(self.opt_str(obj, key, item)?.unwrap_or_default())
    }

    pub fn opt_i64(
        &mut self,
        obj: &ObjId,
        key: &'static str,
        item: &ItemRef,
    ) -> Result<Option<i64>> {
        match self.scalar(obj, key, item)? {
            None => Ok(None),
            Some(ScalarValue::Int(i)) => Ok(Some(i)),
            Some(ScalarValue::Uint(u)) => {
                i64::try_from(u).map(Some).map_err(|_| malformed(item, key))
            }
            Some(_) => Err(malformed(item, key)),
        }
    }

    pub fn i64(&mut self, obj: &ObjId, key: &'static str, item: &ItemRef) -> Result<i64> {
        self.opt_i64(obj, key, item)?
            .ok_or_else(|| malformed(item, key))
    }

    pub fn bool(&mut self, obj: &ObjId, key: &'static str, item: &ItemRef) -> Result<bool> {
        match self.scalar(obj, key, item)? {
            None => Ok(false),
            Some(ScalarValue::Boolean(b)) => Ok(b),
            Some(_) => Err(malformed(item, key)),
        }
    }

    pub fn opt_date(
        &mut self,
        obj: &ObjId,
        key: &'static str,
        item: &ItemRef,
    ) -> Result<Option<Date>> {
        match self.opt_str(obj, key, item)? {
            None => Ok(None),
            Some(s) => parse_date(&s).map(Some).ok_or_else(|| malformed(item, key)),
        }
    }

    pub fn date(&mut self, obj: &ObjId, key: &'static str, item: &ItemRef) -> Result<Date> {
        self.opt_date(obj, key, item)?
            .ok_or_else(|| malformed(item, key))
    }

    pub fn opt_enum<E: StoredEnum>(
        &mut self,
        obj: &ObjId,
        key: &'static str,
        item: &ItemRef,
    ) -> Result<Option<E>> {
        match self.opt_str(obj, key, item)? {
            None => Ok(None),
            Some(s) => E::from_stored(&s)
                .map(Some)
                .ok_or_else(|| malformed(item, key)),
        }
    }

    pub fn enum_<E: StoredEnum>(
        &mut self,
        obj: &ObjId,
        key: &'static str,
        item: &ItemRef,
    ) -> Result<E> {
        self.opt_enum(obj, key, item)?
            .ok_or_else(|| malformed(item, key))
    }

    pub fn opt_id<T: FromStr>(
        &mut self,
        obj: &ObjId,
        key: &'static str,
        item: &ItemRef,
    ) -> Result<Option<T>> {
        match self.opt_str(obj, key, item)? {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| malformed(item, key)),
        }
    }

    pub fn id<T: FromStr>(&mut self, obj: &ObjId, key: &'static str, item: &ItemRef) -> Result<T> {
        self.opt_id(obj, key, item)?
            .ok_or_else(|| malformed(item, key))
    }

    /// A child object of a map field, if it is of the expected type.
    pub fn object(&self, obj: &ObjId, key: &str, want: ObjType) -> Result<Option<ObjId>> {
        match self.doc.get(obj, key)? {
            Some((Value::Object(t), id)) if t == want => Ok(Some(id)),
            _ => Ok(None),
        }
    }

    /// The text of a Text field; empty when absent.
    pub fn text(&self, obj: &ObjId, key: &str) -> Result<String> {
        match self.object(obj, key, ObjType::Text)? {
            Some(id) => Ok(self.doc.text(&id)?),
            None => Ok(String::new()),
        }
    }

    /// Entries of a map whose values are maps, with keys parsed as typed ids. Entries whose
    /// key is not a valid id are skipped: they cannot have come from this code.
    pub fn children<T: FromStr>(&self, obj: &ObjId, key: &str) -> Result<Vec<(T, ObjId)>> {
        let Some(map) = self.object(obj, key, ObjType::Map)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for k in self.doc.keys(&map) {
            if let (Ok(id), Some((Value::Object(ObjType::Map), child))) =
                (k.parse::<T>(), self.doc.get(&map, k.as_str())?)
            {
                out.push((id, child));
            }
        }
        Ok(out)
    }

    /// Members of a map used as a set: each member a key, `true` while in the set. Removal
    /// writes `false` rather than deleting, so that a concurrent add and remove shows up as
    /// a conflict instead of the add silently winning.
    pub fn set<T: FromStr>(
        &mut self,
        obj: &ObjId,
        key: &'static str,
        item: &ItemRef,
    ) -> Result<Vec<T>> {
        let Some(map) = self.object(obj, key, ObjType::Map)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let keys: Vec<String> = self.doc.keys(&map).collect();
        for k in keys {
            let value = self
                .raw_scalar(&map, &k, item)
                .map_err(|()| malformed(item, key))?;
            if let (Ok(id), Some(ScalarValue::Boolean(true))) = (k.parse::<T>(), value) {
                out.push(id);
            }
        }
        Ok(out)
    }
}

pub(crate) fn malformed(item: &ItemRef, field: &'static str) -> Error {
    Error::Malformed {
        item: item.clone(),
        field,
    }
}

/// Typed writes on a transaction.
pub(crate) struct Writer<'t, T: Transactable> {
    pub tx: &'t mut T,
}

impl<'t, T: Transactable> Writer<'t, T> {
    pub fn new(tx: &'t mut T) -> Self {
        Writer { tx }
    }

    pub fn str(&mut self, obj: &ObjId, key: &str, v: &str) -> Result<()> {
        self.tx.put(obj, key, v)?;
        Ok(())
    }

    pub fn opt_str(&mut self, obj: &ObjId, key: &str, v: Option<&str>) -> Result<()> {
        match v {
            Some(v) => self.tx.put(obj, key, v)?,
            None => self.tx.put(obj, key, ScalarValue::Null)?,
        }
        Ok(())
    }

    pub fn i64(&mut self, obj: &ObjId, key: &str, v: i64) -> Result<()> {
        self.tx.put(obj, key, v)?;
        Ok(())
    }

    pub fn bool(&mut self, obj: &ObjId, key: &str, v: bool) -> Result<()> {
        self.tx.put(obj, key, v)?;
        Ok(())
    }

    pub fn date(&mut self, obj: &ObjId, key: &str, v: Date) -> Result<()> {
        self.str(obj, key, &format_date(v))
    }

    pub fn opt_date(&mut self, obj: &ObjId, key: &str, v: Option<Date>) -> Result<()> {
        self.opt_str(obj, key, v.map(format_date).as_deref())
    }

    pub fn enum_<E: StoredEnum>(&mut self, obj: &ObjId, key: &str, v: E) -> Result<()> {
        self.str(obj, key, v.stored())
    }

    pub fn map(&mut self, obj: &ObjId, key: &str) -> Result<ObjId> {
        Ok(self.tx.put_object(obj, key, ObjType::Map)?)
    }

    /// The existing child map at `key`, or a new one.
    pub fn ensure_map(&mut self, obj: &ObjId, key: &str) -> Result<ObjId> {
        match self.tx.get(obj, key)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(id),
            _ => self.map(obj, key),
        }
    }

    /// Writes the current value of `key` again as a new operation, so that a concurrent
    /// write of another value becomes a visible conflict. (Putting an unchanged value is a
    /// no-op in Automerge, which would let the concurrent write win silently.)
    pub fn reassert(&mut self, obj: &ObjId, key: &str) -> Result<()> {
        if let Some((Value::Scalar(v), _)) = self.tx.get(obj, key)? {
            let v = v.into_owned();
            self.tx.delete(obj, key)?;
            self.tx.put(obj, key, v)?;
        }
        Ok(())
    }

    /// A new Text object holding `v`.
    pub fn text(&mut self, obj: &ObjId, key: &str, v: &str) -> Result<ObjId> {
        let text = self.tx.put_object(obj, key, ObjType::Text)?;
        if !v.is_empty() {
            self.tx.splice_text(&text, 0, 0, v)?;
        }
        Ok(text)
    }

    /// Adds `member` to a set-like map.
    pub fn set_add(&mut self, obj: &ObjId, key: &str, member: &str) -> Result<()> {
        let set = self.ensure_map(obj, key)?;
        self.tx.put(&set, member, true)?;
        Ok(())
    }

    /// Removes `member` from a set-like map (see [`Reader::set`] for why not a delete).
    pub fn set_remove(&mut self, obj: &ObjId, key: &str, member: &str) -> Result<()> {
        let set = self.ensure_map(obj, key)?;
        self.tx.put(&set, member, false)?;
        Ok(())
    }
}
