//! The files' services read and parsed (again, after the check) on a
//! thread of their own, one group ahead of the apply: parsing is a third
//! of a large first start, and it need not wait for the previous group's
//! commit and compile, which run on other threads.
//!
//! Batches are gathered into groups of about [`GROUP_ENTRIES`] services and
//! instances, so that a group is one commit of its services and one of its
//! instances (each an fsync) instead of one per batch of text.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::config::ConfigError;
use crate::config::zones::{ZoneService, ZoneSource};

/// Services and instances per group: under the write front's changes per
/// commit, so that a group's instances are one commit. Three groups at
/// most are held at once (one applied, one waiting, one being read).
const GROUP_ENTRIES: usize = if cfg!(test) { 64 } else { 8_000 };

/// Consecutive services of one file, `first` the index of the first in it.
/// Every file sends at least one group, empty if it has no services, so
/// that its namespace is applied.
pub(super) struct Group {
    pub file: usize,
    pub first: usize,
    pub services: Vec<ZoneService>,
}

/// Starts reading `files`' services in order; the apply takes the groups
/// from the receiver. Dropping the receiver stops the reading at the next
/// group.
pub(super) fn start(files: Arc<Vec<ZoneSource>>) -> mpsc::Receiver<Result<Group, ConfigError>> {
    let (sender, receiver) = mpsc::channel(1);
    tokio::task::spawn_blocking(move || read(&files, &sender));
    receiver
}

fn read(files: &[ZoneSource], sender: &mpsc::Sender<Result<Group, ConfigError>>) {
    for (index, file) in files.iter().enumerate() {
        let reopened = match file.reopen() {
            Ok(reopened) => reopened,
            Err(error) => {
                let _ = sender.blocking_send(Err(error));
                return;
            }
        };
        let mut group = Group::empty(index);
        let (mut entries, mut sent) = (0, false);
        for batch in file.services(reopened) {
            let (first, services) = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    let _ = sender.blocking_send(Err(error));
                    return;
                }
            };
            if group.services.is_empty() {
                group.first = first;
            }
            entries += services
                .iter()
                .map(|service| 1 + service.instances.len())
                .sum::<usize>();
            group.services.extend(services);
            if entries >= GROUP_ENTRIES {
                let full = std::mem::replace(&mut group, Group::empty(index));
                (entries, sent) = (0, true);
                if sender.blocking_send(Ok(full)).is_err() {
                    return;
                }
            }
        }
        if (!sent || !group.services.is_empty()) && sender.blocking_send(Ok(group)).is_err() {
            return;
        }
    }
}

impl Group {
    fn empty(file: usize) -> Self {
        Self {
            file,
            first: 0,
            services: Vec::new(),
        }
    }
}
