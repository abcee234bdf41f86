//! The incident tables' SQL, written once and expanded per backend like [`crate::sql_freeze`].

macro_rules! incident_columns {
    () => {
        "id, account_id, state, origin, facts, facts_filled_at, opened_at, updated_at, first_response_at, resolved_at, assignee"
    };
}
pub(crate) use incident_columns;

macro_rules! impl_incidents_sql {
    ($db:ty, $backend:ident, $tx:ident) => {
        mod incidents_sql {
            use custos_core::Timestamp;
            use custos_core::ids::{AccountId, IncidentId, IncidentMessageId};
            use custos_core::incident::{IncidentOrigin, IncidentState, MessageAuthor};
            use sqlx::Row;

            use super::{$backend, $tx};
            use crate::backend::{corrupt, micros, opt_ts, ts};
            use crate::incidents::*;
            use crate::sql_incidents::incident_columns;
            use crate::{Result, conflict_or};

            type DbRow = <$db as sqlx::Database>::Row;

            fn incident_row(r: &DbRow) -> Result<IncidentRecord> {
                let facts: String = r.try_get("facts")?;
                Ok(IncidentRecord {
                    id: IncidentId::from_uuid(r.try_get("id")?),
                    account_id: AccountId::from_uuid(r.try_get("account_id")?),
                    state: IncidentState::parse(&r.try_get::<String, _>("state")?)
                        .ok_or_else(|| corrupt("incident state"))?,
                    origin: IncidentOrigin::parse(&r.try_get::<String, _>("origin")?)
                        .ok_or_else(|| corrupt("incident origin"))?,
                    facts: serde_json::from_str(&facts).map_err(|_| corrupt("incident facts"))?,
                    facts_filled_at: opt_ts(r.try_get("facts_filled_at")?),
                    opened_at: ts(r.try_get("opened_at")?),
                    updated_at: ts(r.try_get("updated_at")?),
                    first_response_at: opt_ts(r.try_get("first_response_at")?),
                    resolved_at: opt_ts(r.try_get("resolved_at")?),
                    assignee: r.try_get("assignee")?,
                })
            }

            fn message_row(r: &DbRow) -> Result<IncidentMessageRecord> {
                let kind: String = r.try_get("author")?;
                let author = match kind.as_str() {
                    "user" => MessageAuthor::User,
                    "system" => MessageAuthor::System,
                    "staff" => MessageAuthor::Staff {
                        staff_id: r.try_get::<Option<String>, _>("staff_id")?.ok_or_else(|| corrupt("staff id"))?,
                        display_name: r.try_get::<Option<String>, _>("staff_name")?.unwrap_or_default(),
                    },
                    _ => return Err(corrupt("message author")),
                };
                Ok(IncidentMessageRecord {
                    id: IncidentMessageId::from_uuid(r.try_get("id")?),
                    incident_id: IncidentId::from_uuid(r.try_get("incident_id")?),
                    author,
                    body: r.try_get("body")?,
                    created_at: ts(r.try_get("created_at")?),
                })
            }

            fn facts_json(i: &IncidentRecord) -> Result<String> {
                serde_json::to_string(&i.facts).map_err(|e| corrupt(&e.to_string()))
            }

            #[async_trait::async_trait]
            impl IncidentTx for $tx {
                async fn insert_incident(&mut self, i: &IncidentRecord) -> Result<()> {
                    let facts = facts_json(i)?;
                    self.write(&["incidents"], concat!(
                        "INSERT INTO incidents (", incident_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                    ), |q| {
                        q
                            .bind(i.id.as_uuid())
                            .bind(i.account_id.as_uuid())
                            .bind(i.state.as_str())
                            .bind(i.origin.as_string())
                            .bind(facts)
                            .bind(i.facts_filled_at.map(micros))
                            .bind(micros(i.opened_at))
                            .bind(micros(i.updated_at))
                            .bind(i.first_response_at.map(micros))
                            .bind(i.resolved_at.map(micros))
                            .bind(i.assignee.as_deref())
                    })
                    .await
                    .map_err(|e| match e {
                        crate::StoreError::Conflict(_) => crate::StoreError::Conflict("incident"),
                        e => e,
                    })?;
                    Ok(())
                }

                async fn open_incident_of(&mut self, account: AccountId) -> Result<Option<IncidentRecord>> {
                    let row = sqlx::query(concat!(
                        "SELECT ", incident_columns!(), " FROM incidents WHERE account_id = $1 AND state <> 'closed'"
                    ))
                    .bind(account.as_uuid())
                    .fetch_optional(self.conn_reading(&["incidents"]).await?)
                    .await?;
                    row.as_ref().map(incident_row).transpose()
                }

                async fn incident_in_tx(&mut self, id: IncidentId) -> Result<Option<IncidentRecord>> {
                    let row = sqlx::query(concat!("SELECT ", incident_columns!(), " FROM incidents WHERE id = $1"))
                        .bind(id.as_uuid())
                        .fetch_optional(self.conn().await?)
                        .await?;
                    row.as_ref().map(incident_row).transpose()
                }

                async fn update_incident(&mut self, i: &IncidentRecord) -> Result<bool> {
                    let n = sqlx::query(
                        "UPDATE incidents SET state = $1, facts = $2, facts_filled_at = $3, updated_at = $4, \
                         first_response_at = $5, resolved_at = $6, assignee = $7 WHERE id = $8",
                    )
                    .bind(i.state.as_str())
                    .bind(facts_json(i)?)
                    .bind(i.facts_filled_at.map(micros))
                    .bind(micros(i.updated_at))
                    .bind(i.first_response_at.map(micros))
                    .bind(i.resolved_at.map(micros))
                    .bind(i.assignee.as_deref())
                    .bind(i.id.as_uuid())
                    .execute(self.conn().await?)
                    .await
                    .map_err(|e| conflict_or(e, "incident"))?
                    .rows_affected();
                    Ok(n == 1)
                }

                async fn insert_incident_message(&mut self, m: &IncidentMessageRecord) -> Result<()> {
                    let (staff_id, staff_name) = match &m.author {
                        MessageAuthor::Staff { staff_id, display_name } => (Some(staff_id.as_str()), Some(display_name.as_str())),
                        _ => (None, None),
                    };
                    self.write(&["incident_messages"], "INSERT INTO incident_messages (id, incident_id, author, staff_id, staff_name, body, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)", |q| {
                        q
                            .bind(m.id.as_uuid())
                            .bind(m.incident_id.as_uuid())
                            .bind(m.author.kind())
                            .bind(staff_id)
                            .bind(staff_name)
                            .bind(&m.body)
                            .bind(micros(m.created_at))
                    })
                    .await?;
                    Ok(())
                }

                async fn insert_incident_note(&mut self, n: &IncidentNoteRecord) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO incident_notes (id, incident_id, staff_id, staff_name, body, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(n.id)
                    .bind(n.incident_id.as_uuid())
                    .bind(&n.staff_id)
                    .bind(&n.staff_name)
                    .bind(&n.body)
                    .bind(micros(n.created_at))
                    .execute(self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn record_contact_change(&mut self, account: AccountId, kind: ContactKind, previous: &str, at: Timestamp) -> Result<()> {
                    self.write(&["contact_changes"], "INSERT INTO contact_changes (id, account_id, kind, previous, changed_at) VALUES ($1, $2, $3, $4, $5)", |q| {
                        q
                            .bind(uuid::Uuid::now_v7())
                            .bind(account.as_uuid())
                            .bind(kind.as_str())
                            .bind(previous)
                            .bind(micros(at))
                    })
                    .await?;
                    Ok(())
                }

                async fn contact_changes_since(&mut self, account: AccountId, since: Timestamp) -> Result<Vec<ContactChange>> {
                    let rows = sqlx::query(
                        "SELECT kind, previous, changed_at FROM contact_changes WHERE account_id = $1 AND changed_at >= $2 \
                         ORDER BY changed_at, id",
                    )
                    .bind(account.as_uuid())
                    .bind(micros(since))
                    .fetch_all(self.conn_reading(&["contact_changes"]).await?)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            let kind = ContactKind::parse(&r.try_get::<String, _>("kind")?)
                                .ok_or_else(|| corrupt("contact kind"))?;
                            Ok(ContactChange { kind, previous: r.try_get("previous")?, changed_at: ts(r.try_get("changed_at")?) })
                        })
                        .collect()
                }
            }

            #[async_trait::async_trait]
            impl IncidentReader for $backend {
                async fn incident(&self, id: IncidentId) -> Result<Option<IncidentRecord>> {
                    let row = sqlx::query(concat!("SELECT ", incident_columns!(), " FROM incidents WHERE id = $1"))
                        .bind(id.as_uuid())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.as_ref().map(incident_row).transpose()
                }

                async fn incidents_of(&self, account: AccountId) -> Result<Vec<IncidentRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", incident_columns!(), " FROM incidents WHERE account_id = $1 ORDER BY opened_at DESC, id DESC"
                    ))
                    .bind(account.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(incident_row).collect()
                }

                async fn incident_messages(&self, id: IncidentId) -> Result<Vec<IncidentMessageRecord>> {
                    let rows = sqlx::query(
                        "SELECT id, incident_id, author, staff_id, staff_name, body, created_at FROM incident_messages \
                         WHERE incident_id = $1 ORDER BY created_at, id",
                    )
                    .bind(id.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(message_row).collect()
                }

                async fn open_incidents(&self, limit: u32) -> Result<Vec<IncidentRecord>> {
                    let rows = sqlx::query(concat!(
                        "SELECT ", incident_columns!(), " FROM incidents WHERE state <> 'closed' ORDER BY opened_at, id LIMIT CAST($1 AS BIGINT)"
                    ))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter().map(incident_row).collect()
                }

                async fn incident_notes(&self, id: IncidentId) -> Result<Vec<IncidentNoteRecord>> {
                    let rows = sqlx::query(
                        "SELECT id, incident_id, staff_id, staff_name, body, created_at FROM incident_notes \
                         WHERE incident_id = $1 ORDER BY created_at, id",
                    )
                    .bind(id.as_uuid())
                    .fetch_all(&self.pool)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(IncidentNoteRecord {
                                id: r.try_get("id")?,
                                incident_id: IncidentId::from_uuid(r.try_get("incident_id")?),
                                staff_id: r.try_get("staff_id")?,
                                staff_name: r.try_get("staff_name")?,
                                body: r.try_get("body")?,
                                created_at: ts(r.try_get("created_at")?),
                            })
                        })
                        .collect()
                }
            }
        }
    };
}
pub(crate) use impl_incidents_sql;
