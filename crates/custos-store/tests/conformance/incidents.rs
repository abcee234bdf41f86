//! Incident cases: one open case per account, the thread in order, facts and SLA times round
//! trip, and the contacts binding changes replaced.

use custos_core::freeze::FreezeChannel;
use custos_core::incident::{IncidentFacts, IncidentOrigin, IncidentState, MessageAuthor};

use super::*;

conformance!(
    an_account_has_at_most_one_open_case_and_a_closed_one_makes_room,
    a_case_round_trips_with_its_facts_and_its_thread_in_order,
    binding_changes_are_listed_since_a_time_oldest_first,
    an_assignee_and_internal_notes_round_trip_apart_from_the_thread,
);

async fn an_assignee_and_internal_notes_round_trip_apart_from_the_thread(store: Store) {
    let a = create_account(&store, "notes@example.com").await;
    let mut c = case(&a, t(1));
    let mut tx = store.begin().await.unwrap();
    tx.insert_incident(&c).await.unwrap();
    c.assignee = Some("CS-123456".into());
    c.updated_at = t(2);
    assert!(tx.update_incident(&c).await.unwrap());
    for (i, body) in ["second", "first"].iter().enumerate() {
        tx.insert_incident_note(&IncidentNoteRecord {
            id: uuid::Uuid::now_v7(),
            incident_id: c.id,
            staff_id: "CS-123456".into(),
            staff_name: "Dana".into(),
            body: (*body).into(),
            created_at: t(10 - i64::try_from(i).unwrap()),
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let back = store.incident(c.id).await.unwrap().unwrap();
    assert_eq!(back.assignee.as_deref(), Some("CS-123456"));
    assert_eq!(store.open_incidents(10).await.unwrap()[0].assignee.as_deref(), Some("CS-123456"));
    let notes = store.incident_notes(c.id).await.unwrap();
    assert_eq!(
        notes.iter().map(|n| n.body.as_str()).collect::<Vec<_>>(),
        ["first", "second"],
        "oldest first"
    );
    assert_eq!((notes[0].staff_name.as_str(), notes[0].created_at), ("Dana", t(9)));
    assert!(store.incident_messages(c.id).await.unwrap().is_empty(), "notes are not in the thread");
}

fn case(a: &AccountRecord, at: Timestamp) -> IncidentRecord {
    IncidentRecord {
        id: IncidentId::new(),
        account_id: a.id,
        state: IncidentState::New,
        origin: IncidentOrigin::Freeze { channel: FreezeChannel::EmailLink },
        facts: IncidentFacts {
            uid: a.uid.get(),
            email: a.email.clone(),
            detected_at: None,
            unauthorised_actions: vec![],
            measures_taken: vec!["Sessions ended: 2.".into()],
        },
        facts_filled_at: None,
        opened_at: at,
        updated_at: at,
        first_response_at: None,
        resolved_at: None,
        assignee: None,
    }
}

async fn an_account_has_at_most_one_open_case_and_a_closed_one_makes_room(store: Store) {
    let a = create_account(&store, "case@example.com").await;
    let b = create_account(&store, "other@example.com").await;
    let mut first = case(&a, t(1));
    let mut tx = store.begin().await.unwrap();
    tx.insert_incident(&first).await.unwrap();
    tx.insert_incident(&case(&b, t(1))).await.unwrap();
    tx.commit().await.unwrap();

    // A second open case is refused: at once on PostgreSQL, when the queued insert is sent (here at
    // commit) on SQLite. Either way the transaction does not commit.
    let mut tx = store.begin().await.unwrap();
    let refused = match tx.insert_incident(&case(&a, t(2))).await {
        Ok(()) => tx.commit().await,
        Err(e) => Err(e),
    };
    assert!(matches!(refused, Err(StoreError::Conflict(_))), "{refused:?}");

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.open_incident_of(a.id).await.unwrap().map(|i| i.id), Some(first.id));
    first.state = IncidentState::Closed;
    first.updated_at = t(3);
    assert!(tx.update_incident(&first).await.unwrap());
    assert_eq!(tx.open_incident_of(a.id).await.unwrap(), None);
    let second = case(&a, t(4));
    tx.insert_incident(&second).await.unwrap();
    tx.commit().await.unwrap();

    let mine = store.incidents_of(a.id).await.unwrap();
    assert_eq!(mine.iter().map(|i| i.id).collect::<Vec<_>>(), [second.id, first.id], "newest first");
    assert_eq!(store.open_incidents(10).await.unwrap().len(), 2, "b's and a's second case");
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.update_incident(&case(&a, t(5))).await.unwrap(), "no such case");
}

async fn a_case_round_trips_with_its_facts_and_its_thread_in_order(store: Store) {
    let a = create_account(&store, "thread@example.com").await;
    let mut c = case(&a, t(1));
    let mut tx = store.begin().await.unwrap();
    tx.insert_incident(&c).await.unwrap();
    c.state = IncidentState::Investigating;
    c.facts.detected_at = Some(t(-3600));
    c.facts.unauthorised_actions = vec!["Withdrawal of 1 BTC to bc1q…".into()];
    c.facts_filled_at = Some(t(2));
    c.first_response_at = Some(t(60));
    c.resolved_at = Some(t(90));
    c.updated_at = t(90);
    tx.update_incident(&c).await.unwrap();
    let messages = [
        (MessageAuthor::System, "Case opened.", t(1)),
        (MessageAuthor::User, "<b>not me</b>\nsecond line", t(30)),
        (
            MessageAuthor::Staff { staff_id: "S-17".into(), display_name: "Ana (support)".into() },
            "On it.",
            t(60),
        ),
    ];
    for (author, body, at) in &messages {
        tx.insert_incident_message(&IncidentMessageRecord {
            id: IncidentMessageId::new(),
            incident_id: c.id,
            author: author.clone(),
            body: (*body).into(),
            created_at: *at,
        })
        .await
        .unwrap();
    }
    assert_eq!(tx.incident_in_tx(c.id).await.unwrap().as_ref(), Some(&c));
    tx.commit().await.unwrap();

    assert_eq!(store.incident(c.id).await.unwrap(), Some(c.clone()));
    let thread = store.incident_messages(c.id).await.unwrap();
    let got: Vec<_> = thread.iter().map(|m| (m.author.clone(), m.body.as_str(), m.created_at)).collect();
    let want: Vec<_> = messages.iter().map(|(a, b, t)| (a.clone(), *b, *t)).collect();
    assert_eq!(got, want);
    assert_eq!(store.incident(IncidentId::new()).await.unwrap(), None);
}

async fn binding_changes_are_listed_since_a_time_oldest_first(store: Store) {
    let a = create_account(&store, "bound@example.com").await;
    let mut tx = store.begin().await.unwrap();
    tx.record_contact_change(a.id, ContactKind::Email, "ancient@example.com", t(-100)).await.unwrap();
    tx.record_contact_change(a.id, ContactKind::Email, "bound-before@example.com", t(10)).await.unwrap();
    tx.record_contact_change(a.id, ContactKind::Phone, "+15550100", t(20)).await.unwrap();
    let since = tx.contact_changes_since(a.id, t(0)).await.unwrap();
    assert_eq!(
        since,
        [
            ContactChange {
                kind: ContactKind::Email,
                previous: "bound-before@example.com".into(),
                changed_at: t(10)
            },
            ContactChange { kind: ContactKind::Phone, previous: "+15550100".into(), changed_at: t(20) },
        ]
    );
    assert!(tx.contact_changes_since(AccountId::new(), t(-1000)).await.unwrap().is_empty());
}
