//! One MIM file: its model name, components and objects, parsed from JSON.

use std::path::Path;

use serde_json::Value;

use crate::describe::{describe, json_error};
use crate::error::MimError;
use crate::members;
use crate::schema::{self, Schema};

/// One parsed MIM file.
///
/// `{"name":"<Model>","type":"mimModel","contents":[<component>...]}`, each component
/// `{"name":"<Component>","type":"mimComponent","contents":[<object>...]}`, each object
/// `{"name":"<object>","type":"mimObject","desired":<bool>,"schema":<schema>}`. Other members (`description`, ...)
/// are ignored. Names must be non-empty and unique within their component or object.
#[derive(Debug, Clone, PartialEq)]
pub struct Mim {
    name: String,
    components: Vec<Component>,
}

/// A component of a MIM: its objects in MIM order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Component {
    pub(crate) name: String,
    pub(crate) objects: Vec<Object>,
}

/// An object of a component.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Object {
    pub(crate) name: String,
    /// Desired (writable) or reported (read-only).
    pub(crate) desired: bool,
    pub(crate) schema: Schema,
}

impl Mim {
    /// Parses the text of a MIM file.
    pub fn parse(text: &str) -> Result<Mim, MimError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| MimError::NotJson { file: None, detail: json_error(&e) })?;
        Mim::from_value(&value)
    }

    /// Reads and parses a MIM file; every error names the file.
    pub fn load(path: &Path) -> Result<Mim, MimError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| MimError::Read { path: path.to_path_buf(), source })?;
        Mim::parse(&text).map_err(|e| e.in_file(path))
    }

    /// Parses a MIM already read as JSON.
    pub fn from_value(value: &Value) -> Result<Mim, MimError> {
        let at = "the model";
        let model = members::as_object(value, at)?;
        members::expect_type(model, "mimModel", at)?;
        let name = members::name(model, "name", at)?.to_string();
        let mut components: Vec<Component> = Vec::new();
        for (i, entry) in members::array(model, "contents", at)?.iter().enumerate() {
            let component = parse_component(entry, &format!("contents[{i}]"))?;
            if components.iter().any(|c| c.name == component.name) {
                return Err(MimError::invalid(&component.name, "the component is defined twice"));
            }
            components.push(component);
        }
        Ok(Mim { name, components })
    }

    /// The model name (`"HostNameModel"`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The component names in MIM order.
    pub fn components(&self) -> Vec<&str> {
        self.components.iter().map(|c| c.name.as_str()).collect()
    }

    /// The components, for the catalog.
    pub(crate) fn into_components(self) -> Vec<Component> {
        self.components
    }
}

fn parse_component(value: &Value, at: &str) -> Result<Component, MimError> {
    let map = members::as_object(value, at)?;
    let name = members::name(map, "name", at)?;
    members::expect_type(map, "mimComponent", name)?;
    let mut objects: Vec<Object> = Vec::new();
    for (i, entry) in members::array(map, "contents", name)?.iter().enumerate() {
        let object = parse_object(entry, name, &format!("{name}.contents[{i}]"))?;
        if objects.iter().any(|o| o.name == object.name) {
            return Err(MimError::invalid(&format!("{name}.{}", object.name), "the object is defined twice"));
        }
        objects.push(object);
    }
    Ok(Component { name: name.to_string(), objects })
}

fn parse_object(value: &Value, component: &str, at: &str) -> Result<Object, MimError> {
    let map = members::as_object(value, at)?;
    let name = members::name(map, "name", at)?;
    let at = format!("{component}.{name}");
    members::expect_type(map, "mimObject", &at)?;
    let desired = members::member(map, "desired", &at)?;
    let desired = desired
        .as_bool()
        .ok_or_else(|| MimError::invalid(&at, format!("\"desired\" must be a boolean, found {}", describe(desired))))?;
    let schema = schema::parse(members::member(map, "schema", &at)?, &at, 1)?;
    Ok(Object { name: name.to_string(), desired, schema })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Primitive;
    use serde_json::json;

    const HOSTNAME: &str = r#"{"name":"HostNameModel","type":"mimModel","contents":[
        {"name":"HostName","type":"mimComponent","contents":[
          {"name":"desiredName","type":"mimObject","desired":true,"schema":"string","description":"d"},
          {"name":"name","type":"mimObject","desired":false,"schema":"string"}]}]}"#;

    fn failed(value: Value) -> String {
        Mim::from_value(&value).unwrap_err().to_string()
    }

    #[test]
    fn test_parse_names_and_objects() {
        let mim = Mim::parse(HOSTNAME).unwrap();
        assert_eq!(mim.name(), "HostNameModel");
        assert_eq!(mim.components(), ["HostName"]);
        let objects = &mim.components[0].objects;
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].name, "desiredName");
        assert!(objects[0].desired);
        assert!(!objects[1].desired);
        assert_eq!(objects[1].schema, Schema::Primitive(Primitive::String));
    }

    #[test]
    fn test_parse_not_json() {
        let e = Mim::parse("{\"name\": }").unwrap_err();
        assert!(matches!(e, MimError::NotJson { .. }));
        assert_eq!(e.to_string(), "the MIM is not JSON (line 1, column 10: expected value)");
    }

    #[test]
    fn test_parse_model_errors() {
        assert_eq!(failed(json!([])), "the model: expected an object, found an array");
        assert_eq!(failed(json!({"name":"M","contents":[]})), "the model: \"type\" is missing");
        assert_eq!(
            failed(json!({"name":"M","type":"mimComponent","contents":[]})),
            "the model: \"type\" must be \"mimModel\", found the string \"mimComponent\""
        );
        assert_eq!(failed(json!({"type":"mimModel","contents":[]})), "the model: \"name\" is missing");
        assert_eq!(failed(json!({"name":"M","type":"mimModel"})), "the model: \"contents\" is missing");
    }

    #[test]
    fn test_parse_component_errors() {
        let e = failed(json!({"name":"M","type":"mimModel","contents":[{"type":"mimComponent","contents":[]}]}));
        assert_eq!(e, "contents[0]: \"name\" is missing");
        let e =
            failed(json!({"name":"M","type":"mimModel","contents":[{"name":"C","type":"mimObject","contents":[]}]}));
        assert_eq!(e, "C: \"type\" must be \"mimComponent\", found the string \"mimObject\"");
        let c = json!({"name":"C","type":"mimComponent","contents":[]});
        let e = failed(json!({"name":"M","type":"mimModel","contents":[c, c]}));
        assert_eq!(e, "C: the component is defined twice");
    }

    #[test]
    fn test_parse_object_errors() {
        let model = |object: Value| json!({"name":"M","type":"mimModel","contents":[{"name":"C","type":"mimComponent","contents":[object]}]});
        let e = failed(model(json!({"type":"mimObject","desired":true,"schema":"string"})));
        assert_eq!(e, "C.contents[0]: \"name\" is missing");
        let e = failed(model(json!({"name":"o","type":"mimObject","desired":"yes","schema":"string"})));
        assert_eq!(e, "C.o: \"desired\" must be a boolean, found the string \"yes\"");
        let e = failed(model(json!({"name":"o","type":"mimObject","schema":"string"})));
        assert_eq!(e, "C.o: \"desired\" is missing");
        let e = failed(model(json!({"name":"o","type":"mimObject","desired":true})));
        assert_eq!(e, "C.o: \"schema\" is missing");
        let e = failed(model(json!({"name":"o","type":"mimObject","desired":true,"schema":{"type":"tuple"}})));
        assert_eq!(e, "C.o: schema type \"tuple\" is not one of enum, object, map, array");
        let o = json!({"name":"o","type":"mimObject","desired":true,"schema":"string"});
        let e = failed(json!({"name":"M","type":"mimModel","contents":[
            {"name":"C","type":"mimComponent","contents":[o, o]}]}));
        assert_eq!(e, "C.o: the object is defined twice");
    }

    #[test]
    fn test_load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("osconfig-mim-model-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("hostname.json");
        std::fs::write(&good, HOSTNAME).unwrap();
        assert_eq!(Mim::load(&good).unwrap().name(), "HostNameModel");

        let bad = dir.join("bad.json");
        std::fs::write(&bad, r#"{"name":"M","type":"mimModel"}"#).unwrap();
        let e = Mim::load(&bad).unwrap_err();
        assert_eq!(e.file(), Some(bad.as_path()));
        assert_eq!(e.to_string(), format!("{}: the model: \"contents\" is missing", bad.display()));

        let missing = dir.join("missing.json");
        let e = Mim::load(&missing).unwrap_err();
        assert!(matches!(e, MimError::Read { .. }));
        assert_eq!(e.to_string(), format!("cannot read MIM file {}", missing.display()));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
