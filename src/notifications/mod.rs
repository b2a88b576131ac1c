//! The members' notifications: an inbox per member (`inbox` writes it, as a sink of
//! `events::emit`, in the transaction of the change).

pub mod inbox;
