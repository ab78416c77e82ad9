//! Cloud Map's service attributes: a small key → value map on a service,
//! kept and shown (GetServiceAttributes) but read by nothing in DNS. Changed
//! like tags: the service is written whole, under the structure lock.

use super::model::{Service, Tags};
use super::{Change, Pending, Plan, Registry, RegistryError, Result, validate};

/// A service with its new attributes.
#[derive(Debug)]
pub struct AttributesChange(Service);

impl Pending for AttributesChange {
    type Output = ();
    fn changes(&self) -> Vec<Change> {
        vec![Change::Service(self.0.clone())]
    }
}

impl Registry {
    /// UpdateServiceAttributes: adds `set` or overwrites its keys. More than
    /// [`validate::MAX_SERVICE_ATTRIBUTES`] in all is
    /// ServiceAttributesLimitExceededException, and nothing changes.
    pub(crate) fn plan_update_service_attributes(
        &self,
        service_id: &str,
        set: &Tags,
    ) -> Result<Plan<AttributesChange>> {
        validate::service_attribute_keys(set.keys())?;
        for (key, value) in set {
            validate::service_attribute_value(key, value)?;
        }
        let mut service = self.get_service(service_id)?;
        let mut attributes = service.attributes.clone();
        attributes.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
        if attributes.len() > validate::MAX_SERVICE_ATTRIBUTES {
            return Err(RegistryError::ServiceAttributesLimitExceeded(format!(
                "service '{}' would carry {} attributes; a service may carry at most {}",
                service.name,
                attributes.len(),
                validate::MAX_SERVICE_ATTRIBUTES
            )));
        }
        if attributes == service.attributes {
            return Ok(Plan::Done(()));
        }
        service.attributes = attributes;
        Ok(Plan::Apply(AttributesChange(service)))
    }

    /// DeleteServiceAttributes: removes these keys; a key the service does
    /// not carry is no error, as in Cloud Map.
    pub(crate) fn plan_delete_service_attributes(
        &self,
        service_id: &str,
        keys: &[String],
    ) -> Result<Plan<AttributesChange>> {
        validate::service_attribute_keys(keys.iter())?;
        let mut service = self.get_service(service_id)?;
        let before = service.attributes.len();
        for key in keys {
            service.attributes.remove(key);
        }
        if service.attributes.len() == before {
            return Ok(Plan::Done(()));
        }
        Ok(Plan::Apply(AttributesChange(service)))
    }

    pub(crate) fn apply_service_attributes(&self, pending: AttributesChange) {
        let service = pending.0;
        if let Some(mut entry) = self.inner.services.get_mut(service.id.as_str()) {
            entry.service.attributes = service.attributes;
        }
    }
}
