//! The job state machine as this relayer sees it.
//!
//! ```text
//! funded ─claim─▶ leased ─accept─▶ running ─result─▶ result_stored ─sign─▶ signed ─post─▶ posted ─▶ settled
//!    ▲              │                 │
//!    └─lease lost───┴─────────────────┘      any non-terminal ─▶ expired ─▶ refunded
//! ```
//!
//! A relayer that is not the job's coordinator moves it `funded → result_stored` when it
//! stores the coordinator's result to sign it (so it never dispatches the job itself).
//!
//! `settled` and `refunded` are what the chain says happened, so the watcher may move a
//! job there from any non-terminal state (another relayer may have posted the proof, or
//! the client may have expired the escrow). Both are terminal. Transitions into
//! `leased`, `running`, `result_stored` and `signed` carry evidence (a lease, the
//! worker's acceptance, a result, our signature) and are made only by the store methods
//! that record it, never by a bare state change.

use std::fmt;
use std::str::FromStr;

/// Where a job is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Paid on-chain, waiting for a worker.
    Funded,
    /// Leased to a worker that has not yet accepted it.
    Leased,
    /// The worker signed its acceptance and is running it.
    Running,
    /// The worker's signed result is stored.
    ResultStored,
    /// This relayer signed the completion proof.
    Signed,
    /// The proof is in the outbox and has been submitted.
    Posted,
    /// The chain shows the escrow completed (terminal).
    Settled,
    /// Deadline passed without settlement; the escrow can be expired.
    Expired,
    /// The chain shows the escrow expired and refunded (terminal).
    Refunded,
}

impl JobState {
    /// Every state, in lifecycle order.
    pub const ALL: [JobState; 9] = [
        JobState::Funded,
        JobState::Leased,
        JobState::Running,
        JobState::ResultStored,
        JobState::Signed,
        JobState::Posted,
        JobState::Settled,
        JobState::Expired,
        JobState::Refunded,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Funded => "funded",
            JobState::Leased => "leased",
            JobState::Running => "running",
            JobState::ResultStored => "result_stored",
            JobState::Signed => "signed",
            JobState::Posted => "posted",
            JobState::Settled => "settled",
            JobState::Expired => "expired",
            JobState::Refunded => "refunded",
        }
    }

    /// No transition leaves a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Settled | JobState::Refunded)
    }

    /// A worker holds (or held) a lease that may still be live.
    pub fn is_leased(self) -> bool {
        matches!(self, JobState::Leased | JobState::Running)
    }

    /// Whether `self -> next` is a legal step of the lifecycle.
    pub fn can_transition_to(self, next: JobState) -> bool {
        use JobState::*;
        if self.is_terminal() {
            return false;
        }
        match next {
            // The chain is the truth: a completed or expired escrow ends the job from anywhere.
            Settled | Refunded => true,
            Expired => self != Expired,
            Leased => matches!(self, Funded | Leased | Running), // re-claim after a lost lease
            Running => self == Leased,
            // A peer relayer stores the coordinator's result for a job it never leased.
            ResultStored => matches!(self, Running | Funded),
            Signed => self == ResultStored,
            Posted => self == Signed,
            Funded => self.is_leased(), // lease released or lost: dispatch again
        }
    }

    /// Whether entering this state must go through a method that stores evidence.
    pub fn needs_evidence(self) -> bool {
        matches!(
            self,
            JobState::Leased | JobState::Running | JobState::ResultStored | JobState::Signed
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state name that is not one of [`JobState::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown job state {0:?}")]
pub struct UnknownJobState(pub String);

impl FromStr for JobState {
    type Err = UnknownJobState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownJobState(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::JobState::{self, *};

    #[test]
    fn names_round_trip() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>().unwrap(), state);
        }
        assert!("paid".parse::<JobState>().is_err());
    }

    #[test]
    fn happy_path_is_legal_and_steps_cannot_be_skipped() {
        let path = [
            Funded,
            Leased,
            Running,
            ResultStored,
            Signed,
            Posted,
            Settled,
        ];
        for pair in path.windows(2) {
            assert!(
                pair[0].can_transition_to(pair[1]),
                "{} -> {}",
                pair[0],
                pair[1]
            );
        }
        assert!(!Funded.can_transition_to(Running));
        assert!(!Leased.can_transition_to(ResultStored));
        assert!(!Running.can_transition_to(Signed));
        assert!(!ResultStored.can_transition_to(Posted));
        assert!(!Funded.can_transition_to(Posted));
    }

    #[test]
    fn terminal_states_are_final() {
        for next in JobState::ALL {
            assert!(!Settled.can_transition_to(next));
            assert!(!Refunded.can_transition_to(next));
        }
        assert!(Expired.can_transition_to(Refunded));
        assert!(!Expired.can_transition_to(Funded));
    }
}
