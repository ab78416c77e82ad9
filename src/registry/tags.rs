//! Tags on namespaces and services, and the operation log's readers.

use super::model::{Namespace, Operation, Service, Tags};
use super::{Change, Pending, Plan, Registry, RegistryError, Result, id_from_arn, validate};

/// A namespace or service with its new tags.
#[derive(Debug)]
pub enum Retag {
    Namespace(Namespace),
    Service(Service),
}

impl Pending for Retag {
    type Output = ();
    fn changes(&self) -> Vec<Change> {
        match self {
            Self::Namespace(namespace) => vec![Change::Namespace(namespace.clone())],
            Self::Service(service) => vec![Change::Service(service.clone())],
        }
    }
}

fn merged(tags: &Tags, add: &Tags, remove: &[String]) -> Result<Tags> {
    let mut tags = tags.clone();
    for key in remove {
        tags.remove(key);
    }
    tags.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
    validate::tags(&tags)?;
    Ok(tags)
}

impl Registry {
    pub fn get_operation(&self, id: &str) -> Result<Operation> {
        self.inner
            .operations
            .get(id)
            .ok_or_else(|| RegistryError::OperationNotFound(format!("no operation with id '{id}'")))
    }

    /// Every remembered operation, oldest first.
    pub fn list_operations(&self) -> Vec<Operation> {
        self.inner.operations.list()
    }

    /// Puts an operation back as it was (the store restoring the log).
    pub(crate) fn insert_operation(&self, operation: Operation) {
        self.inner.operations.insert(operation);
    }

    /// The tags of the namespace or service this ARN (or id) names.
    pub fn tags(&self, resource: &str) -> Result<Tags> {
        let id = id_from_arn(resource);
        if let Some(namespace) = self.namespace(id) {
            return Ok(namespace.tags);
        }
        if let Some(service) = self.service(id) {
            return Ok(service.tags);
        }
        Err(RegistryError::ResourceNotFound(format!(
            "no namespace or service '{resource}'"
        )))
    }

    /// Adds or overwrites tags, and removes the keys in `remove`.
    pub(crate) fn plan_retag(
        &self,
        resource: &str,
        add: &Tags,
        remove: &[String],
    ) -> Result<Plan<Retag>> {
        let id = id_from_arn(resource);
        if let Some(mut namespace) = self.namespace(id) {
            namespace.tags = merged(&namespace.tags, add, remove)?;
            return Ok(Plan::Apply(Retag::Namespace(namespace)));
        }
        if let Some(mut service) = self.service(id) {
            service.tags = merged(&service.tags, add, remove)?;
            return Ok(Plan::Apply(Retag::Service(service)));
        }
        Err(RegistryError::ResourceNotFound(format!(
            "no namespace or service '{resource}'"
        )))
    }

    pub(crate) fn apply_retag(&self, pending: Retag) {
        match pending {
            Retag::Namespace(namespace) => {
                if let Some(mut entry) = self.inner.namespaces.get_mut(&namespace.id) {
                    entry.namespace.tags = namespace.tags;
                }
            }
            Retag::Service(service) => {
                if let Some(mut entry) = self.inner.services.get_mut(service.id.as_str()) {
                    entry.service.tags = service.tags;
                }
            }
        }
    }
}
