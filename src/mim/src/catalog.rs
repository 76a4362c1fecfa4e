//! The MIMs of every module the platform serves, by component, and the check of desired payloads.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::check::check;
use crate::describe::json_error;
use crate::model::{Component, Mim};
use crate::violation::{Violation, ViolationKind};

/// The MIMs of every module the platform serves, by component.
#[derive(Debug, Default)]
pub struct Catalog {
    components: BTreeMap<String, Component>,
}

impl Catalog {
    /// Adds the components of `mim`; a component already in the catalog is replaced by the later definition.
    pub fn add(&mut self, mim: Mim) {
        for component in mim.into_components() {
            self.components.insert(component.name.clone(), component);
        }
    }

    /// Whether a MIM in the catalog defines `component`.
    pub fn knows(&self, component: &str) -> bool {
        self.components.contains_key(component)
    }

    /// The number of components known.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// Whether no component is known.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    /// The components known, sorted by name.
    pub fn components(&self) -> Vec<&str> {
        self.components.keys().map(String::as_str).collect()
    }

    /// Desired object names of a component in MIM order (None if the component is unknown).
    pub fn desired_objects(&self, component: &str) -> Option<Vec<&str>> {
        self.objects(component, true)
    }

    /// Reported object names of a component in MIM order (None if the component is unknown).
    pub fn reported_objects(&self, component: &str) -> Option<Vec<&str>> {
        self.objects(component, false)
    }

    fn objects(&self, component: &str, desired: bool) -> Option<Vec<&str>> {
        let component = self.components.get(component)?;
        Some(component.objects.iter().filter(|o| o.desired == desired).map(|o| o.name.as_str()).collect())
    }

    /// Checks one desired payload (the JSON bytes an MpiSet carries for component/object).
    ///
    /// Ok(()) when the component has no MIM in the catalog (unchecked pass-through) and when the object is a
    /// reported (desired:false) object (left to the module, which answers with its own errno). An object the
    /// component does not define is an [`UnknownObject`](ViolationKind::UnknownObject); otherwise the payload
    /// must be JSON and match the object's schema.
    // A Violation (about 128 bytes) is built only for a refused payload, and callers match on its public fields.
    #[allow(clippy::result_large_err)]
    pub fn check_desired(&self, component: &str, object: &str, payload: &[u8]) -> Result<(), Violation> {
        let Some(known) = self.components.get(component) else { return Ok(()) };
        let violation = |path: String, kind: ViolationKind| Violation {
            component: component.to_string(),
            object: object.to_string(),
            path,
            kind,
        };
        let Some(target) = known.objects.iter().find(|o| o.name == object) else {
            let desired = known.objects.iter().filter(|o| o.desired).map(|o| o.name.clone()).collect();
            return Err(violation(String::new(), ViolationKind::UnknownObject { desired }));
        };
        if !target.desired {
            return Ok(());
        }
        let value: Value = serde_json::from_slice(payload)
            .map_err(|e| violation(String::new(), ViolationKind::NotJson(json_error(&e))))?;
        let mut path = String::new();
        check(&value, &target.schema, &mut path, 1).map_err(|kind| violation(path, kind))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTNAME: &str = r#"{"name":"HostNameModel","type":"mimModel","contents":[
        {"name":"HostName","type":"mimComponent","contents":[
          {"name":"desiredName","type":"mimObject","desired":true,"schema":"string"},
          {"name":"name","type":"mimObject","desired":false,"schema":"string"},
          {"name":"desiredHosts","type":"mimObject","desired":true,"schema":"string"}]}]}"#;

    const TWO: &str = r#"{"name":"Two","type":"mimModel","contents":[
        {"name":"A","type":"mimComponent","contents":[
          {"name":"desiredList","type":"mimObject","desired":true,
           "schema":{"type":"array","elementSchema":"integer"}}]},
        {"name":"B","type":"mimComponent","contents":[
          {"name":"state","type":"mimObject","desired":false,"schema":"integer"}]}]}"#;

    fn catalog() -> Catalog {
        let mut catalog = Catalog::default();
        catalog.add(Mim::parse(HOSTNAME).unwrap());
        catalog.add(Mim::parse(TWO).unwrap());
        catalog
    }

    fn kind(result: Result<(), Violation>) -> ViolationKind {
        result.unwrap_err().kind
    }

    #[test]
    fn test_catalog_is_shared_between_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Catalog>();
        send_sync::<Violation>();
    }

    #[test]
    fn test_add_counts_components() {
        let mut catalog = Catalog::default();
        assert!(catalog.is_empty());
        catalog.add(Mim::parse(TWO).unwrap());
        assert_eq!(catalog.len(), 2);
        assert!(!catalog.is_empty());
        assert!(catalog.knows("A") && catalog.knows("B"));
        assert!(!catalog.knows("HostName"));
        assert_eq!(catalog.components(), ["A", "B"]);
    }

    #[test]
    fn test_add_later_definition_replaces() {
        let mut catalog = catalog();
        let b = r#"{"name":"B2","type":"mimModel","contents":[{"name":"B","type":"mimComponent","contents":[
            {"name":"desiredState","type":"mimObject","desired":true,"schema":"boolean"}]}]}"#;
        catalog.add(Mim::parse(b).unwrap());
        assert_eq!(catalog.len(), 3);
        assert_eq!(catalog.desired_objects("B").unwrap(), ["desiredState"]);
        assert_eq!(catalog.reported_objects("B").unwrap(), Vec::<&str>::new());
        assert!(catalog.check_desired("B", "desiredState", b"true").is_ok());
        assert!(catalog.check_desired("B", "desiredState", b"1").is_err());
    }

    #[test]
    fn test_desired_objects_in_mim_order() {
        let catalog = catalog();
        assert_eq!(catalog.desired_objects("HostName").unwrap(), ["desiredName", "desiredHosts"]);
        assert_eq!(catalog.reported_objects("HostName").unwrap(), ["name"]);
        assert_eq!(catalog.desired_objects("B").unwrap(), Vec::<&str>::new());
        assert_eq!(catalog.desired_objects("Nope"), None);
    }

    #[test]
    fn test_check_desired_passes() {
        let catalog = catalog();
        assert!(catalog.check_desired("HostName", "desiredName", br#""box""#).is_ok());
        assert!(catalog.check_desired("A", "desiredList", b" [1, 2, 3] ").is_ok());
    }

    #[test]
    fn test_check_desired_unknown_component_passes() {
        assert!(catalog().check_desired("Firewall", "desiredRules", b"not even json").is_ok());
        assert!(Catalog::default().check_desired("HostName", "desiredName", b"42").is_ok());
    }

    #[test]
    fn test_check_desired_reported_object_passes() {
        let catalog = catalog();
        assert!(catalog.check_desired("HostName", "name", b"42").is_ok());
        assert!(catalog.check_desired("B", "state", b"{").is_ok());
    }

    #[test]
    fn test_check_desired_unknown_object() {
        let v = catalog().check_desired("HostName", "desiredNam", br#""box""#).unwrap_err();
        let desired = vec!["desiredName".to_string(), "desiredHosts".to_string()];
        assert_eq!(v.kind, ViolationKind::UnknownObject { desired });
        assert_eq!(v.to_string(), "HostName.desiredNam: unknown object (desired objects: desiredName, desiredHosts)");
        let v = catalog().check_desired("B", "desiredState", b"1").unwrap_err();
        assert_eq!(v.to_string(), "B.desiredState: unknown object (the component has no desired objects)");
    }

    #[test]
    fn test_check_desired_wrong_type() {
        let v = catalog().check_desired("HostName", "desiredName", b"42").unwrap_err();
        assert_eq!(
            v,
            Violation {
                component: "HostName".into(),
                object: "desiredName".into(),
                path: String::new(),
                kind: ViolationKind::WrongType { expected: "a string".into(), found: "the number 42".into() },
            }
        );
        assert_eq!(v.to_string(), "HostName.desiredName: expected a string, found the number 42");
    }

    #[test]
    fn test_check_desired_array_item_path() {
        let v = catalog().check_desired("A", "desiredList", br#"[1,2,3,"a"]"#).unwrap_err();
        assert_eq!(v.path, "[3]");
        assert_eq!(v.to_string(), "A.desiredList[3]: expected an integer, found the string \"a\"");
    }

    #[test]
    fn test_check_desired_not_json() {
        let v = catalog().check_desired("HostName", "desiredName", b"{\"a\" 1}").unwrap_err();
        assert_eq!(v.kind, ViolationKind::NotJson("line 1, column 6: expected `:`".into()));
        assert_eq!(v.to_string(), "HostName.desiredName: the payload is not JSON (line 1, column 6: expected `:`)");
        assert!(matches!(kind(catalog().check_desired("HostName", "desiredName", b"")), ViolationKind::NotJson(_)));
        assert!(matches!(
            kind(catalog().check_desired("HostName", "desiredName", b"\"a\" 1")),
            ViolationKind::NotJson(_)
        ));
    }

    #[test]
    fn test_check_desired_deep_payload_does_not_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let v = catalog().check_desired("A", "desiredList", deep.as_bytes()).unwrap_err();
        assert!(matches!(&v.kind, ViolationKind::NotJson(d) if d.contains("recursion limit")), "{v}");
        let v = catalog().check_desired("A", "desiredList", b"[[[1]]]").unwrap_err();
        assert_eq!(v.to_string(), "A.desiredList[0]: expected an integer, found an array");
    }
}
