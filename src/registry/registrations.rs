//! A service's CreatorRequestIds, for idempotent retries of
//! RegisterInstance: which instance each token registered, with the
//! operation when it is known, and each instance's tokens, so that a
//! deregistration forgets its instance's tokens at the cost of those tokens
//! alone instead of a scan of every token the service holds (botocore sends
//! a token with every registration, so that scan made each deregistration
//! cost the size of its service).

use std::collections::HashMap;

/// The tokens of one service's registrations.
#[derive(Debug, Clone, Default)]
pub(super) struct Registrations {
    /// Token → (the instance it registered, its operation; `None` when
    /// restored from a store, which does not keep it).
    by_token: HashMap<String, (String, Option<String>)>,
    /// Instance id, lowercased as instance ids compare → its tokens.
    by_instance: HashMap<String, Vec<String>>,
}

impl Registrations {
    pub(super) fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    /// The instance `token` registered, and the operation that did.
    pub(super) fn get(&self, token: &str) -> Option<&(String, Option<String>)> {
        self.by_token.get(token)
    }

    /// Records that `token` registered `instance_id` by `operation`. A
    /// token used before for another instance now names this one only.
    pub(super) fn insert(&mut self, token: &str, instance_id: &str, operation: Option<String>) {
        let previous = self
            .by_token
            .insert(token.to_string(), (instance_id.to_string(), operation));
        if let Some((before, _)) = previous {
            if before.eq_ignore_ascii_case(instance_id) {
                return;
            }
            self.forget_token_of(&before, token);
        }
        self.by_instance
            .entry(instance_id.to_ascii_lowercase())
            .or_default()
            .push(token.to_string());
    }

    fn forget_token_of(&mut self, instance_id: &str, token: &str) {
        let key = instance_id.to_ascii_lowercase();
        if let Some(tokens) = self.by_instance.get_mut(&key) {
            tokens.retain(|held| held != token);
            if tokens.is_empty() {
                self.by_instance.remove(&key);
            }
        }
    }

    /// Forgets every token that registered `instance_id` (case ignored, as
    /// instance ids compare): a retry with one of them registers again.
    pub(super) fn remove_instance(&mut self, instance_id: &str) {
        let Some(tokens) = self.by_instance.remove(&instance_id.to_ascii_lowercase()) else {
            return;
        };
        for token in tokens {
            self.by_token.remove(&token);
        }
    }

    /// Carries the known operations of `earlier` over to the same tokens
    /// here when they still name the same instance and the operation is not
    /// known here (a re-read of a shared store does not bring it).
    pub(super) fn keep_operations_of(&mut self, earlier: &Registrations) {
        for (token, (instance_id, operation)) in &earlier.by_token {
            if let Some((same, unknown @ None)) = self.by_token.get_mut(token)
                && same == instance_id
            {
                *unknown = operation.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deregistration_forgets_exactly_its_instances_tokens() {
        let mut registrations = Registrations::default();
        registrations.insert("t1", "web-1", Some("op1".into()));
        registrations.insert("t2", "WEB-1", None);
        registrations.insert("t3", "web-2", Some("op3".into()));
        // A token reused for another instance names that one only.
        registrations.insert("t4", "web-2", None);
        registrations.insert("t4", "web-3", Some("op4".into()));
        registrations.remove_instance("Web-1");
        assert_eq!(registrations.get("t1"), None);
        assert_eq!(registrations.get("t2"), None);
        assert_eq!(
            registrations.get("t3"),
            Some(&("web-2".to_string(), Some("op3".to_string())))
        );
        registrations.remove_instance("web-2");
        assert_eq!(registrations.get("t3"), None);
        assert_eq!(
            registrations.get("t4"),
            Some(&("web-3".to_string(), Some("op4".to_string())))
        );
        registrations.remove_instance("web-3");
        assert!(registrations.is_empty());
        assert!(registrations.by_instance.is_empty());
    }

    #[test]
    fn known_operations_carry_over_to_the_same_token_and_instance() {
        let mut earlier = Registrations::default();
        earlier.insert("t1", "web-1", Some("op1".into()));
        earlier.insert("t2", "web-2", Some("op2".into()));
        let mut reread = Registrations::default();
        reread.insert("t1", "web-1", None);
        reread.insert("t2", "web-9", None);
        reread.keep_operations_of(&earlier);
        assert_eq!(
            reread.get("t1"),
            Some(&("web-1".to_string(), Some("op1".to_string())))
        );
        assert_eq!(reread.get("t2"), Some(&("web-9".to_string(), None)));
    }
}
