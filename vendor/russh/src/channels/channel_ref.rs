use std::sync::Arc;

use tokio::sync::mpsc::Sender;

use super::{ChannelCredit, WindowSizeRef};
use crate::ChannelMsg;

/// A handle to the [`super::Channel`]'s to be able to transmit messages
/// to it and update it's `window_size`.
#[derive(Debug)]
pub struct ChannelRef {
    pub(super) sender: Sender<ChannelMsg>,
    pub(super) window_size: WindowSizeRef,
    pub(crate) credit: Option<Arc<ChannelCredit>>,
}

impl ChannelRef {
    pub fn new(sender: Sender<ChannelMsg>) -> Self {
        Self {
            sender,
            window_size: WindowSizeRef::new(0),
            credit: None,
        }
    }

    /// A channel whose window is widened as the application reads it.
    pub(crate) fn with_credit(sender: Sender<ChannelMsg>, credit: Arc<ChannelCredit>) -> Self {
        Self {
            credit: Some(credit),
            ..Self::new(sender)
        }
    }

    pub(crate) fn window_size(&self) -> &WindowSizeRef {
        &self.window_size
    }
}

impl std::ops::Deref for ChannelRef {
    type Target = Sender<ChannelMsg>;

    fn deref(&self) -> &Self::Target {
        &self.sender
    }
}
