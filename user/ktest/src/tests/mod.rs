//! The tests, grouped by subject. [`ALL`] is the order they run in.

mod caps;
mod faults;
pub(crate) mod hostile;
mod ipc;
mod sched;

use crate::Outcome;

/// A test: its name (what `ktest FILTER` matches) and its function.
pub type Test = (&'static str, fn() -> Outcome);

/// Every test.
pub const ALL: &[Test] = &[
    ("revoke_three_cspaces", caps::revoke_three_cspaces),
    ("mint_badge_rights", caps::mint_badge_rights),
    ("call_reply_cap_transfer", ipc::call_reply_cap_transfer),
    ("call_reply_cross_core", ipc::call_reply_cross_core),
    ("cap_move_transfer", ipc::cap_move_transfer),
    ("notification_cross_core", ipc::notification_cross_core),
    ("fault_resume", faults::fault_resume),
    ("fault_restart", faults::fault_restart),
    ("fault_kill", faults::fault_kill),
    ("fault_no_handler", faults::fault_no_handler),
    ("suspend_resume", sched::suspend_resume),
    ("unmap_then_access_faults", faults::unmap_then_access_faults),
    ("vspace_unmap_range", faults::vspace_unmap_range),
    ("error_paths", caps::error_paths),
    ("quota_accounting", caps::quota_accounting),
    ("write_registers_of_blocked_thread", hostile::write_registers_of_blocked_thread),
    ("receive_before_reply_ends_the_call", hostile::receive_before_reply_ends_the_call),
    ("write_xor_execute_per_frame", hostile::write_xor_execute_per_frame),
    ("reply_longer_than_a_message_is_refused", hostile::reply_longer_than_a_message_is_refused),
    ("revoke_lets_a_sleeper_in", hostile::revoke_lets_a_sleeper_in),
    ("revoke_of_a_quota_lets_a_sleeper_in", hostile::revoke_of_a_quota_lets_a_sleeper_in),
];
