//! The device: the encrypted store of one phone, every domain operation on it, and sync.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use keukentafel_core::model::{
    CaseStatus, ClosureReason, GoalStatus, Money, NewAgreement, NewCase, NewDecision, NewGoal,
    NewHouseholdMember, NewKnelpuntSignal, ProvisionCategory,
};
use keukentafel_core::rules::MandateCheck;
use keukentafel_core::{
    AgreementId, AssessmentId, CaseFilter, CaseId, CaseSummary, ChangeRef, ConflictId, Context,
    ConversationId, DecisionId, DeviceId, DeviceStore, GoalId, HistoryEntry, MemberId, NotesEdit,
    PendingSignature, PersonId, ProgressId, SignalId, StoreKey,
};
use time::Date;
use tokio::sync::{Notify, watch};

use crate::error::{KeukentafelError, Result};
use crate::sync::{
    self, ChangeListener, LiveSync, SyncCancel, SyncProgressListener, SyncReport, SyncState,
    SyncStateObserver,
};
use crate::types::{
    Case, Conflict, Member, NewAssessment, NewConversation, QuarantinedChange, Workspace,
};

/// What a device shares with its sync thread.
pub(crate) struct Shared {
    store: Mutex<DeviceStore>,
    state: Mutex<SyncState>,
    observer: Mutex<Option<Arc<dyn SyncStateObserver>>>,
    /// Held while a state change is told, so observers hear changes in order.
    telling: Mutex<()>,
    /// Woken on every local edit, so that live sync pushes it at once.
    pub(crate) local_edits: Notify,
    /// Whether live sync runs (one per device).
    pub(crate) live_running: AtomicBool,
    /// Counts the rounds live sync completed, for a "sync now" while it runs.
    pub(crate) live_rounds: watch::Sender<u64>,
}

impl Shared {
    pub(crate) fn store(&self) -> Result<MutexGuard<'_, DeviceStore>> {
        // A poisoned lock means a panic in the middle of a store call: the database rolled
        // back, but the documents held in memory may not match it. Only reopening is safe.
        self.store.lock().map_err(|_| KeukentafelError::Internal {
            reason: "the store failed earlier; close and reopen it".into(),
        })
    }

    pub(crate) fn live_running(&self) -> bool {
        self.live_running.load(Ordering::SeqCst)
    }

    pub(crate) fn state(&self) -> SyncState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(SyncState::Offline)
    }

    pub(crate) fn set_state(&self, state: SyncState) {
        let Ok(_telling) = self.telling.lock() else {
            return;
        };
        {
            let Ok(mut current) = self.state.lock() else {
                return;
            };
            if *current == state {
                return;
            }
            *current = state.clone();
        }
        let observer = self.observer.lock().ok().and_then(|o| o.clone());
        if let Some(o) = observer {
            sync::call_app(|| o.on_state_changed(state));
        }
    }
}

/// A fresh random key for a new store. Keep it in the Android Keystore or the iOS
/// Keychain; it is the only way to open the store again.
#[uniffi::export]
pub fn generate_store_key() -> Result<Vec<u8>> {
    Ok(StoreKey::generate()?.as_bytes().to_vec())
}

/// The phone's encrypted store with everything its member may see, and its sync.
///
/// Safe to call from any thread. Every call returns quickly (a local, durable write or a
/// read) except `enrol` and `sync_now`, which wait for the network: call those off the UI
/// thread. A call that returns normally has stored its change durably: it survives the app
/// being killed right after.
#[derive(uniffi::Object)]
pub struct Device {
    shared: Arc<Shared>,
}

impl Device {
    fn store(&self) -> Result<MutexGuard<'_, DeviceStore>> {
        self.shared.store()
    }

    /// Runs one change of a case through core (rulebook, durable write), then tells live
    /// sync there is something to push.
    fn edit<T>(
        &self,
        case: &CaseId,
        f: impl FnOnce(&mut keukentafel_core::CaseDoc, &Context<'_>) -> keukentafel_core::Result<T>,
    ) -> Result<T> {
        let out = self.store()?.edit_case(case, f)?;
        self.shared.local_edits.notify_one();
        Ok(out)
    }

    fn edit_notes(
        &self,
        case: &CaseId,
        conversation: &ConversationId,
        at: u32,
        delete: u32,
        insert: String,
    ) -> Result<()> {
        let edit = NotesEdit::Splice {
            at: position(at),
            delete: position(delete),
            insert,
        };
        self.edit(case, |doc, ctx| doc.edit_notes(ctx, conversation, edit))
    }
}

fn position(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

#[uniffi::export]
impl Device {
    /// Opens the encrypted store at `path` with its 32-byte `key`, creating it when the file
    /// does not exist. A wrong key fails with `WrongKey` and changes nothing.
    #[uniffi::constructor]
    pub fn open(path: String, key: Vec<u8>) -> Result<Arc<Device>> {
        let key: [u8; 32] = key.try_into().map_err(|_| KeukentafelError::InvalidInput {
            reason: "a store key is 32 bytes".into(),
        })?;
        let store = DeviceStore::open(Path::new(&path), &StoreKey::from_bytes(key))?;
        Ok(Arc::new(Device {
            shared: Arc::new(Shared {
                store: Mutex::new(store),
                state: Mutex::new(SyncState::Offline),
                observer: Mutex::new(None),
                telling: Mutex::new(()),
                local_edits: Notify::new(),
                live_running: AtomicBool::new(false),
                live_rounds: watch::Sender::new(0),
            }),
        }))
    }

    // ----- enrolment and who is signed in

    /// Enrols this device with the team's server (`https://...`) using the one-time `code`
    /// an admin handed out; `label` names the device for the admin ("telefoon Sanne").
    /// Blocks on the network. Afterwards the device syncs with that server.
    pub fn enrol(&self, server: String, code: String, label: String) -> Result<Workspace> {
        let base = sync::server_base(&server)?;
        if self.is_enrolled() {
            return Err(KeukentafelError::InvalidInput {
                reason: "this device is already enrolled".into(),
            });
        }
        let response = sync::enrol(&base, &code, &label)?;
        let mut store = self.store()?;
        store.enrol(&base, &response)?;
        Ok(store.workspace()?.clone().into())
    }

    /// Whether this device is enrolled in a team.
    pub fn is_enrolled(&self) -> bool {
        self.store()
            .map(|s| s.member_id().is_some())
            .unwrap_or(false)
    }

    /// This device's id, as the admin sees it.
    pub fn device_id(&self) -> Result<DeviceId> {
        Ok(self.store()?.device_id().clone())
    }

    /// The member signed in on this device.
    pub fn me(&self) -> Result<Member> {
        let store = self.store()?;
        let id = store.member_id().ok_or(KeukentafelError::NotEnrolled)?;
        let member = store
            .workspace()?
            .member(id)
            .cloned()
            .ok_or(KeukentafelError::NotEnrolled)?;
        Ok(member.into())
    }

    /// The team: members, roles, mandates, budgets.
    pub fn workspace(&self) -> Result<Workspace> {
        Ok(self.store()?.workspace()?.clone().into())
    }

    // ----- queries for the screens

    /// The signed-in member's cases, soonest legal deadline first, with badges.
    pub fn my_cases(&self) -> Result<Vec<CaseSummary>> {
        Ok(self.store()?.my_cases()?)
    }

    /// Every case on this device (a team lead sees the team's), soonest deadline first,
    /// optionally only those in `status`.
    pub fn cases(&self, status: Option<CaseStatus>) -> Result<Vec<CaseSummary>> {
        Ok(self.store()?.list_cases(&CaseFilter {
            status,
            assignee: None,
        })?)
    }

    /// Decisions waiting for a second signature that the signed-in member may give.
    pub fn awaiting_my_signature(&self) -> Result<Vec<PendingSignature>> {
        Ok(self.store()?.awaiting_my_signature()?)
    }

    /// Cases with open conflicts, to badge: `(case, number of open conflicts)`.
    pub fn cases_with_conflicts(&self) -> Result<Vec<CaseConflicts>> {
        Ok(self
            .store()?
            .cases_with_conflicts()?
            .into_iter()
            .map(|(case, open)| CaseConflicts { case, open })
            .collect())
    }

    /// Local changes the server refused, oldest first: kept for a person to look at.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedChange>> {
        Ok(self
            .store()?
            .quarantine()?
            .into_iter()
            .map(QuarantinedChange::from)
            .collect())
    }

    // ----- cases

    /// Opens a new case, assigned to the signed-in member unless `assigned` names others.
    pub fn create_case(&self, case: NewCase) -> Result<CaseId> {
        let id = self.store()?.create_case(case)?;
        self.shared.local_edits.notify_one();
        Ok(id)
    }

    /// A case as it stands on this device. Logged in the access log.
    pub fn case(&self, case: CaseId) -> Result<Case> {
        Ok(self.store()?.case(&case)?.into())
    }

    /// Moves a case to its next status.
    pub fn set_status(&self, case: CaseId, status: CaseStatus) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.set_status(ctx, status))
    }

    /// Closes a case on `date` for `reason`.
    pub fn close_case(&self, case: CaseId, date: Date, reason: ClosureReason) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.close(ctx, date, reason))
    }

    /// Records the day of the formal aanvraag; the beschikking deadline runs from it.
    pub fn set_aanvraag_date(&self, case: CaseId, date: Date) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.set_aanvraag_date(ctx, date))
    }

    /// Assigns a member of the team to the case.
    pub fn assign(&self, case: CaseId, member: MemberId) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.assign(ctx, &member))
    }

    /// Removes a member from the case.
    pub fn unassign(&self, case: CaseId, member: MemberId) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.unassign(ctx, &member))
    }

    /// Adds a person to the household.
    pub fn add_household_member(
        &self,
        case: CaseId,
        person: NewHouseholdMember,
    ) -> Result<PersonId> {
        self.edit(&case, |doc, ctx| doc.add_household_member(ctx, person))
    }

    // ----- conversations

    /// Records a kitchen-table conversation.
    pub fn record_conversation(
        &self,
        case: CaseId,
        conversation: NewConversation,
    ) -> Result<ConversationId> {
        self.edit(&case, |doc, ctx| {
            doc.record_conversation(ctx, conversation.into())
        })
    }

    /// Inserts `text` into the notes at character position `at` (counting Unicode
    /// characters). Concurrent typing by a colleague merges character by character.
    pub fn insert_notes(
        &self,
        case: CaseId,
        conversation: ConversationId,
        at: u32,
        text: String,
    ) -> Result<()> {
        self.edit_notes(&case, &conversation, at, 0, text)
    }

    /// Deletes `count` characters of the notes from position `at`.
    pub fn delete_notes(
        &self,
        case: CaseId,
        conversation: ConversationId,
        at: u32,
        count: u32,
    ) -> Result<()> {
        self.edit_notes(&case, &conversation, at, count, String::new())
    }

    /// Makes the notes read `text` (what a text field holds after editing), changing only
    /// the characters that differ, so a colleague's concurrent edit elsewhere survives.
    pub fn replace_notes(
        &self,
        case: CaseId,
        conversation: ConversationId,
        text: String,
    ) -> Result<()> {
        self.edit(&case, |doc, ctx| {
            doc.edit_notes(ctx, &conversation, NotesEdit::Replace(text))
        })
    }

    /// Adds an agreement to a conversation.
    pub fn add_agreement(
        &self,
        case: CaseId,
        conversation: ConversationId,
        agreement: NewAgreement,
    ) -> Result<AgreementId> {
        self.edit(&case, |doc, ctx| {
            doc.add_agreement(ctx, &conversation, agreement)
        })
    }

    /// Marks an agreement done or not done.
    pub fn set_agreement_done(
        &self,
        case: CaseId,
        conversation: ConversationId,
        agreement: AgreementId,
        done: bool,
    ) -> Result<()> {
        self.edit(&case, |doc, ctx| {
            doc.set_agreement_done(ctx, &conversation, &agreement, done)
        })
    }

    // ----- decisions

    /// How a decision of `amount` in `category` stands against the signed-in member's
    /// mandate: show it before saving. Above the mandate a decision needs a second
    /// signature (`request_signature`).
    pub fn mandate_check(
        &self,
        category: ProvisionCategory,
        amount: Money,
    ) -> Result<MandateCheck> {
        Ok(self.store()?.mandate_check(category, amount)?)
    }

    /// Saves a decision as a draft.
    pub fn draft_decision(&self, case: CaseId, decision: NewDecision) -> Result<DecisionId> {
        self.edit(&case, |doc, ctx| doc.draft_decision(ctx, decision))
    }

    /// Changes a draft.
    pub fn update_draft(
        &self,
        case: CaseId,
        decision: DecisionId,
        content: NewDecision,
    ) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.update_draft(ctx, &decision, content))
    }

    /// Takes a draft decision within the member's mandate. Above the mandate this is
    /// refused: ask for a second signature instead.
    pub fn decide(&self, case: CaseId, decision: DecisionId) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.decide(ctx, &decision))
    }

    /// Asks a colleague with a large enough mandate to sign a draft decision.
    pub fn request_signature(&self, case: CaseId, decision: DecisionId) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.request_signature(ctx, &decision))
    }

    /// Withdraws a request for a second signature; the decision is a draft again.
    pub fn withdraw_request(&self, case: CaseId, decision: DecisionId) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.withdraw_request(ctx, &decision))
    }

    /// Gives the second signature: the decision is approved.
    pub fn approve(&self, case: CaseId, decision: DecisionId) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.approve(ctx, &decision))
    }

    /// Refuses the second signature, with why.
    pub fn reject(&self, case: CaseId, decision: DecisionId, reason: String) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.reject(ctx, &decision, &reason))
    }

    // ----- plan, assessments, signals

    /// Adds a goal to the plan.
    pub fn add_goal(&self, case: CaseId, goal: NewGoal) -> Result<GoalId> {
        self.edit(&case, |doc, ctx| doc.add_goal(ctx, goal))
    }

    /// Sets a goal's status.
    pub fn set_goal_status(&self, case: CaseId, goal: GoalId, status: GoalStatus) -> Result<()> {
        self.edit(&case, |doc, ctx| doc.set_goal_status(ctx, &goal, status))
    }

    /// Notes progress on a goal.
    pub fn add_progress(
        &self,
        case: CaseId,
        goal: GoalId,
        date: Date,
        note: String,
    ) -> Result<ProgressId> {
        self.edit(&case, |doc, ctx| doc.add_progress(ctx, &goal, date, &note))
    }

    /// Records a ZRM assessment.
    pub fn record_assessment(
        &self,
        case: CaseId,
        assessment: NewAssessment,
    ) -> Result<AssessmentId> {
        self.edit(&case, |doc, ctx| {
            doc.record_assessment(ctx, assessment.into())
        })
    }

    /// Raises a knelpunt: a rule or policy that stands in the way of good support.
    pub fn raise_signal(&self, case: CaseId, signal: NewKnelpuntSignal) -> Result<SignalId> {
        self.edit(&case, |doc, ctx| doc.raise_signal(ctx, signal))
    }

    // ----- conflicts and history

    /// Open conflicts of a case: values concurrent edits set differently, with who and
    /// when, and rules concurrent edits broke together.
    pub fn conflicts(&self, case: CaseId) -> Result<Vec<Conflict>> {
        Ok(self
            .store()?
            .conflicts(&case)?
            .into_iter()
            .map(Conflict::from)
            .collect())
    }

    /// Resolves a value conflict by keeping value number `choice` of those listed.
    pub fn resolve_conflict(&self, case: CaseId, conflict: String, choice: u32) -> Result<()> {
        let id = ConflictId::new(conflict);
        self.edit(&case, |doc, ctx| {
            doc.resolve_conflict(ctx, &id, position(choice))
        })
    }

    /// Every change of a case, oldest first, with who, on which device and when. Logged.
    pub fn history(&self, case: CaseId) -> Result<Vec<HistoryEntry>> {
        Ok(self.store()?.history(&case)?)
    }

    /// The case as it was right after `change` (from `history`). Logged.
    pub fn case_at(&self, case: CaseId, change: ChangeRef) -> Result<Case> {
        Ok(self.store()?.case_at(&case, &change)?.into())
    }

    // ----- sync

    /// Syncs now: sends what this device recorded, receives what the team did. Blocks
    /// until done (seconds; longer on a first sync of a large caseload): call it off the
    /// UI thread. `progress` hears how far it is; `cancel` stops it from another thread.
    /// Fails with `Network` when the server cannot be reached: nothing is lost, sync again
    /// later. While live sync runs, this waits for live sync to complete a round instead.
    pub fn sync_now(
        &self,
        progress: Option<Box<dyn SyncProgressListener>>,
        cancel: Option<Arc<SyncCancel>>,
    ) -> Result<SyncReport> {
        sync::block_on(sync::sync_now(
            &self.shared,
            progress.as_deref(),
            cancel.as_deref(),
        ))
    }

    /// Keeps syncing while a connection is possible: the device's edits go out at once,
    /// the team's arrive as they happen and are announced to `listener`. A lost connection
    /// is retried, waiting longer each time. Returns at once; stop it with `LiveSync.stop`.
    /// One live sync per device: a second start fails with `InvalidInput`.
    pub fn start_live_sync(&self, listener: Box<dyn ChangeListener>) -> Result<Arc<LiveSync>> {
        Ok(Arc::new(sync::start_live(self.shared.clone(), listener)?))
    }

    /// How syncing stands now.
    pub fn sync_state(&self) -> SyncState {
        self.shared.state()
    }

    /// Tells `observer` of every change of the sync state from now on (`None` stops
    /// telling). One observer per device; a new one replaces the old.
    pub fn observe_sync_state(&self, observer: Option<Box<dyn SyncStateObserver>>) {
        if let Ok(mut o) = self.shared.observer.lock() {
            *o = observer.map(Arc::from);
        }
    }
}

/// A case with open conflicts.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct CaseConflicts {
    /// The case.
    pub case: CaseId,
    /// How many conflicts are open.
    pub open: u32,
}
