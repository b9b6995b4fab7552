//! The SQL of the searchable documents, once for both stores: only the
//! placeholders and the substring function differ between PostgreSQL and
//! SQLite.

use crate::{snapshot_body, Document, DocumentQuery, StoreError};

/// The columns a document is read from, in [`decode`]'s order.
pub(crate) const COLUMNS: &str =
    "index_name, shop_id, doc_id, starts_at, ends_at, version, terms, search_text, body, body_lz4";

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// How one engine spells what differs.
pub(crate) struct Dialect {
    /// The n-th placeholder (1-based).
    pub placeholder: fn(usize) -> String,
    /// The position of a substring, 0 when absent.
    pub find: &'static str,
    /// The snapshot key compared byte by byte, so that a prefix is a range.
    pub key_bytes: &'static str,
}

/// The text a document is searched by: folded to lower case so a query in
/// either case finds it.
pub(crate) fn searchable(text: &str) -> String {
    text.to_lowercase()
}

/// Terms are stored beside the row, one per line, so a page of hits is one
/// query; `document_terms` is what finds them.
pub(crate) fn join_terms(terms: &[String]) -> Result<String, StoreError> {
    if let Some(bad) = terms.iter().find(|t| t.contains('\n') || t.is_empty()) {
        return Err(StoreError::Corrupt(format!(
            "document term {bad:?}: empty or with a line break"
        )));
    }
    Ok(terms.join("\n"))
}

fn split_terms(joined: String) -> Vec<String> {
    if joined.is_empty() {
        Vec::new()
    } else {
        joined.split('\n').map(str::to_owned).collect()
    }
}

/// The SELECT for one page of `query`, and what it binds.
pub(crate) fn search_sql(query: &DocumentQuery, dialect: &Dialect) -> (String, Vec<Bind>) {
    let mut binds = Vec::new();
    let mut bind = |b: Bind| {
        binds.push(b);
        (dialect.placeholder)(binds.len())
    };
    let mut sql = format!(
        "SELECT {COLUMNS} FROM documents d WHERE index_name = {} AND shop_id = {}",
        bind(Bind::Text(query.index.clone())),
        bind(Bind::Text(query.shop_id.clone()))
    );
    let windows = [
        ("starts_at >=", query.starts_from),
        ("starts_at <", query.starts_before),
        ("ends_at >=", query.ends_from),
        ("ends_at <", query.ends_before),
    ];
    for (condition, value) in windows {
        if let Some(v) = value {
            sql += &format!(" AND {condition} {}", bind(Bind::Int(v)));
        }
    }
    if let Some(text) = query.text.as_deref().filter(|t| !t.is_empty()) {
        sql += &format!(
            " AND {}(search_text, {}) > 0",
            dialect.find,
            bind(Bind::Text(searchable(text)))
        );
    }
    for term in &query.terms {
        sql += &format!(
            " AND EXISTS (SELECT 1 FROM document_terms t WHERE t.index_name = d.index_name \
             AND t.shop_id = d.shop_id AND t.term = {} AND t.doc_id = d.doc_id)",
            bind(Bind::Text(term.clone()))
        );
    }
    let (beyond, order) = if query.oldest_first {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    if let Some((at, id)) = &query.after {
        sql += &format!(
            " AND (starts_at, doc_id) {beyond} ({}, {})",
            bind(Bind::Int(*at)),
            bind(Bind::Text(id.clone()))
        );
    }
    sql += &format!(
        " ORDER BY starts_at {order}, doc_id {order} LIMIT {}",
        bind(Bind::Int(query.limit.max(0)))
    );
    (sql, binds)
}

/// One page of `query` among `documents`, the ones its ids named (loaded by
/// key): the same conditions, order and page as [`search_sql`]'s, decided
/// here rather than by a planner, which without statistics on a fresh
/// table scans a shop's whole index to join a list of ids.
pub(crate) fn page_among(query: &DocumentQuery, mut documents: Vec<Document>) -> Vec<Document> {
    let within = |v: Option<i64>, from: Option<i64>, before: Option<i64>| match v {
        Some(v) => from.is_none_or(|f| v >= f) && before.is_none_or(|b| v < b),
        None => from.is_none() && before.is_none(),
    };
    let text = query
        .text
        .as_deref()
        .filter(|t| !t.is_empty())
        .map(searchable);
    let key = |d: &Document| (d.starts_at, d.doc_id.clone());
    documents.retain(|d| {
        d.index == query.index
            && d.shop_id == query.shop_id
            && within(Some(d.starts_at), query.starts_from, query.starts_before)
            && within(d.ends_at, query.ends_from, query.ends_before)
            && text.as_deref().is_none_or(|t| d.text.contains(t))
            && query.terms.iter().all(|t| d.terms.contains(t))
            && query.after.as_ref().is_none_or(|after| {
                if query.oldest_first {
                    key(d) > *after
                } else {
                    key(d) < *after
                }
            })
    });
    documents.sort_by_key(key);
    if !query.oldest_first {
        documents.reverse();
    }
    documents.dedup_by(|a, b| a.doc_id == b.doc_id);
    documents.truncate(usize::try_from(query.limit).unwrap_or(0));
    documents
}

/// `sql` with `binds` bound in order, for either engine.
pub(crate) fn bound<'q, DB>(
    sql: &'q str,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    binds
        .into_iter()
        .fold(sqlx::query::<DB>(sql), |q, b| match b {
            Bind::Text(t) => q.bind(t),
            Bind::Int(i) => q.bind(i),
        })
}

/// Dropping an index: its terms, then its documents (the count returned).
pub(crate) const DELETE_TERMS: &str = "DELETE FROM document_terms WHERE index_name = $1";
pub(crate) const DELETE_DOCUMENTS: &str = "DELETE FROM documents WHERE index_name = $1";

/// A document from its row (read in [`COLUMNS`] order).
pub(crate) fn decode<R>(row: &R) -> Result<Document, StoreError>
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<Vec<u8>>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let doc_id: String = row.try_get(2)?;
    let body = snapshot_body::unpack(&doc_id, row.try_get(8)?, row.try_get(9)?)?;
    Ok(Document {
        index: row.try_get(0)?,
        shop_id: row.try_get(1)?,
        doc_id,
        starts_at: row.try_get(3)?,
        ends_at: row.try_get(4)?,
        version: row.try_get(5)?,
        terms: split_terms(row.try_get(6)?),
        text: row.try_get(7)?,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg() -> Dialect {
        Dialect {
            placeholder: |n| format!("${n}"),
            find: "strpos",
            key_bytes: "key",
        }
    }

    #[test]
    fn a_query_binds_only_what_it_names_in_placeholder_order() {
        let q = DocumentQuery {
            index: "i".into(),
            shop_id: "s".into(),
            terms: vec!["buyer:b".into()],
            text: Some("退款".into()),
            after: Some((5, "c9".into())),
            limit: 20,
            ..Default::default()
        };
        let (sql, binds) = search_sql(&q, &pg());
        assert!(sql.contains("strpos(search_text, $3) > 0"), "{sql}");
        assert!(sql.contains("t.term = $4"), "{sql}");
        assert!(sql.contains("(starts_at, doc_id) < ($5, $6)"), "{sql}");
        assert!(
            sql.ends_with("ORDER BY starts_at DESC, doc_id DESC LIMIT $7"),
            "{sql}"
        );
        assert_eq!(binds.len(), 7);
        assert!(!sql.contains("ends_at >=") && !sql.contains("ends_at <"));
    }

    #[test]
    fn a_term_with_a_line_break_is_refused() {
        assert!(join_terms(&["a\nb".into()]).is_err());
        assert!(join_terms(&[String::new()]).is_err());
        assert_eq!(join_terms(&["a".into(), "b".into()]).unwrap(), "a\nb");
        assert_eq!(split_terms(String::new()), Vec::<String>::new());
    }
}
