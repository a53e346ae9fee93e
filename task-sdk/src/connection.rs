//! Connections, and the `AIRFLOW_CONN_<ID>` / `AIRFLOW_VAR_<KEY>` environment overrides.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use airflow_protocol::messages::ConnectionResult;
use airflow_protocol::{JsonMap, JsonValue, Text};

use crate::error::ClientError;

/// An Airflow connection. `Debug` never shows the password or the extra field.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// The connection id.
    pub conn_id: String,
    /// The connection type, for example `postgres` or `http`.
    pub conn_type: String,
    /// The host.
    pub host: Option<String>,
    /// The schema (database, or URL scheme for HTTP connections).
    pub schema: Option<String>,
    /// The login.
    pub login: Option<String>,
    /// The port.
    pub port: Option<i64>,
    password: Option<String>,
    extra: Option<String>,
}

impl Connection {
    /// A connection with only an id and a type.
    pub fn new(conn_id: impl Into<String>, conn_type: impl Into<String>) -> Self {
        Self {
            conn_id: conn_id.into(),
            conn_type: conn_type.into(),
            host: None,
            schema: None,
            login: None,
            port: None,
            password: None,
            extra: None,
        }
    }

    /// Sets the password.
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Sets the extra field (a JSON text).
    pub fn with_extra(mut self, extra: impl Into<String>) -> Self {
        self.extra = Some(extra.into());
        self
    }

    /// The password. Never log it: the supervisor masks it only in lines it forwards.
    pub fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The extra field as stored: a JSON text.
    pub fn extra(&self) -> Option<&str> {
        self.extra.as_deref()
    }

    /// The extra field parsed as a JSON object (empty when there is none).
    pub fn extra_json(&self) -> Result<JsonMap, ClientError> {
        match self.extra.as_deref() {
            None | Some("") => Ok(JsonMap::new()),
            Some(text) => match serde_json::from_str::<JsonValue>(text) {
                Ok(JsonValue::Object(map)) => Ok(map),
                Ok(other) => Err(ClientError::Serde(format!(
                    "extra of connection {:?} is JSON but not an object: {}",
                    self.conn_id,
                    kind_of(&other)
                ))),
                Err(e) => Err(ClientError::Serde(format!(
                    "extra of connection {:?} is not JSON: {e}",
                    self.conn_id
                ))),
            },
        }
    }

    /// The secrets to mask in logs: the password and the extra field.
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.password
            .as_deref()
            .into_iter()
            .chain(self.extra.as_deref())
            .filter(|s| !s.is_empty())
    }

    /// Parses the value of an `AIRFLOW_CONN_<ID>` variable: a JSON object or a URI.
    pub fn from_env_value(conn_id: &str, value: &str) -> Result<Self, ClientError> {
        let value = value.trim();
        if value.starts_with('{') {
            parse_json_form(conn_id, value)
        } else {
            parse_uri_form(conn_id, value)
        }
    }
}

fn kind_of(value: &JsonValue) -> &'static str {
    match value {
        JsonValue::Null => "null",
        JsonValue::Bool(_) => "a boolean",
        JsonValue::Number(_) => "a number",
        JsonValue::String(_) => "a string",
        JsonValue::Array(_) => "an array",
        JsonValue::Object(_) => "an object",
    }
}

impl From<ConnectionResult> for Connection {
    fn from(c: ConnectionResult) -> Self {
        Self {
            conn_id: c.conn_id.to_string(),
            conn_type: c.conn_type.to_string(),
            host: c.host.map(Text::into_string),
            schema: c.schema.map(Text::into_string),
            login: c.login.map(Text::into_string),
            port: c.port,
            password: c.password.map(Text::into_string),
            extra: c.extra.map(Text::into_string),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("conn_id", &self.conn_id)
            .field("conn_type", &self.conn_type)
            .field("host", &self.host)
            .field("schema", &self.schema)
            .field("login", &self.login)
            .field("port", &self.port)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("extra", &self.extra.as_ref().map(|_| "***"))
            .finish()
    }
}

fn parse_json_form(conn_id: &str, text: &str) -> Result<Connection, ClientError> {
    let bad = |why: String| {
        ClientError::Serde(format!(
            "AIRFLOW_CONN_{} is not a valid JSON connection: {why}",
            conn_id.to_uppercase()
        ))
    };
    let map: JsonMap = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let string = |key: &str| -> Result<Option<String>, ClientError> {
        match map.get(key) {
            None | Some(JsonValue::Null) => Ok(None),
            Some(JsonValue::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(format!(
                "`{key}` must be a string, not {}",
                kind_of(other)
            ))),
        }
    };
    let port = match map.get("port") {
        None | Some(JsonValue::Null) => None,
        Some(JsonValue::Number(n)) => Some(
            n.as_i64()
                .ok_or_else(|| bad("`port` must be an integer".into()))?,
        ),
        Some(JsonValue::String(s)) => Some(
            s.parse()
                .map_err(|_| bad(format!("`port` {s:?} is not an integer")))?,
        ),
        Some(other) => {
            return Err(bad(format!(
                "`port` must be an integer, not {}",
                kind_of(other)
            )))
        }
    };
    let extra = match map.get("extra") {
        None | Some(JsonValue::Null) => None,
        Some(JsonValue::String(s)) => Some(s.clone()),
        Some(object @ JsonValue::Object(_)) => Some(object.to_string()),
        Some(other) => {
            return Err(bad(format!(
                "`extra` must be an object or a string, not {}",
                kind_of(other)
            )))
        }
    };
    Ok(Connection {
        conn_id: conn_id.to_owned(),
        conn_type: string("conn_type")?.unwrap_or_default(),
        host: string("host")?,
        schema: string("schema")?,
        login: string("login")?,
        port,
        password: string("password")?,
        extra,
    })
}

// Airflow's URI form: `type://login:password@host:port/schema?key=value&...`; the query becomes
// the extra object, or `__extra__=<json>` gives it whole.
fn parse_uri_form(conn_id: &str, text: &str) -> Result<Connection, ClientError> {
    let bad = |why: &str| {
        ClientError::Serde(format!(
            "AIRFLOW_CONN_{} is not a valid connection URI: {why}",
            conn_id.to_uppercase()
        ))
    };
    let (scheme, rest) = text
        .split_once("://")
        .ok_or_else(|| bad("expected `type://...`"))?;
    if scheme.is_empty() {
        return Err(bad("the connection type (URI scheme) is empty"));
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], Some(&before_query[i + 1..])),
        None => (before_query, None),
    };
    let (userinfo, hostport) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let (login, password) = match userinfo {
        None => (None, None),
        Some(info) => match info.split_once(':') {
            Some((l, p)) => (Some(percent_decode(l)?), Some(percent_decode(p)?)),
            None => (Some(percent_decode(info)?), None),
        },
    };
    let (host, port) = match hostport.rsplit_once(':') {
        // A bracketed IPv6 address without a port ends with `]`.
        Some((h, p)) if !hostport.ends_with(']') => {
            let port = p
                .parse::<i64>()
                .map_err(|_| bad(&format!("port {p:?} is not a number")))?;
            (h, Some(port))
        }
        _ => (hostport, None),
    };
    let extra = match query {
        None | Some("") => None,
        Some(query) => Some(query_to_extra(query)?),
    };
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    Ok(Connection {
        conn_id: conn_id.to_owned(),
        conn_type: scheme.replace('-', "_"),
        host: non_empty(percent_decode(host)?),
        schema: match path {
            Some(p) => non_empty(percent_decode(p)?),
            None => None,
        },
        login: login.and_then(non_empty),
        port,
        password: password.and_then(non_empty),
        extra,
    })
}

fn query_to_extra(query: &str) -> Result<String, ClientError> {
    let mut map = JsonMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = percent_decode(&key.replace('+', " "))?;
        let value = percent_decode(&value.replace('+', " "))?;
        if key == "__extra__" {
            return Ok(value);
        }
        map.insert(key, JsonValue::String(value));
    }
    Ok(JsonValue::Object(map).to_string())
}

fn percent_decode(text: &str) -> Result<String, ClientError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ClientError::Serde(format!("bad percent escape in {text:?}")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| ClientError::Serde(format!("{text:?} decodes to invalid UTF-8")))
}

/// The environment overrides of variables and connections (`AIRFLOW_VAR_<KEY>`,
/// `AIRFLOW_CONN_<ID>`), read before asking the supervisor, as Airflow's environment-variables
/// secrets backend does: the process environment's, or a fixed set in tests.
#[derive(Clone)]
pub struct Environment(Arc<HashMap<String, String>>);

const VARIABLE_PREFIX: &str = "AIRFLOW_VAR_";
const CONNECTION_PREFIX: &str = "AIRFLOW_CONN_";

impl Environment {
    /// The overrides in the process environment, read once, now: a task's variable and
    /// connection reads then cost no environment lookup, and none at all when no override is
    /// set. (Changes to the environment after the run starts are not seen.)
    pub fn process() -> Self {
        Self::from_pairs(std::env::vars_os().filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            if !(name.starts_with(VARIABLE_PREFIX) || name.starts_with(CONNECTION_PREFIX)) {
                return None;
            }
            Some((name, value.into_string().ok()?))
        }))
    }

    /// A fixed set of variables.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self(Arc::new(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        ))
    }

    /// Looks a variable up.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    /// The `AIRFLOW_VAR_<KEY>` override of a variable, if set.
    pub fn variable(&self, key: &str) -> Option<String> {
        self.lookup(VARIABLE_PREFIX, key)
    }

    /// The `AIRFLOW_CONN_<ID>` override of a connection, if set.
    pub fn connection(&self, conn_id: &str) -> Option<Result<Connection, ClientError>> {
        self.lookup(CONNECTION_PREFIX, conn_id)
            .map(|value| Connection::from_env_value(conn_id, &value))
    }

    fn lookup(&self, prefix: &str, key: &str) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        self.get(&format!("{prefix}{}", key.to_uppercase()))
    }
}

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Environment(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_form_like_airflow() {
        let c = Connection::from_env_value(
            "my_db",
            "postgres-x://us%40er:p%3Ass@db.example.com:5432/analytics?sslmode=require&a=b+c",
        )
        .unwrap();
        assert_eq!(c.conn_type, "postgres_x");
        assert_eq!(c.login.as_deref(), Some("us@er"));
        assert_eq!(c.password(), Some("p:ss"));
        assert_eq!(c.host.as_deref(), Some("db.example.com"));
        assert_eq!(c.port, Some(5432));
        assert_eq!(c.schema.as_deref(), Some("analytics"));
        let extra = c.extra_json().unwrap();
        assert_eq!(extra["sslmode"], "require");
        assert_eq!(extra["a"], "b c");
        let whole =
            Connection::from_env_value("x", "http://h?__extra__=%7B%22k%22%3A1%7D").unwrap();
        assert_eq!(whole.extra_json().unwrap()["k"], 1);
    }

    #[test]
    fn json_form_and_refusals() {
        let c = Connection::from_env_value(
            "api",
            r#"{"conn_type":"http","host":"h","port":"8080","password":"pw","extra":{"t":5}}"#,
        )
        .unwrap();
        assert_eq!((c.port, c.password()), (Some(8080), Some("pw")));
        assert_eq!(c.extra_json().unwrap()["t"], 5);
        assert!(Connection::from_env_value("a", "no scheme").is_err());
        assert!(Connection::from_env_value("a", "http://h:port").is_err());
        assert!(Connection::from_env_value("a", r#"{"port":[1]}"#).is_err());
        assert!(Connection::from_env_value("a", "http://h/%zz").is_err());
    }

    #[test]
    fn debug_hides_secrets() {
        let c = Connection::new("c", "http")
            .with_password("hunter2")
            .with_extra("{\"token\":\"s3cr3t\"}");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        assert_eq!(c.secrets().count(), 2);
    }

    #[test]
    fn overrides_are_looked_up_by_upper_case_name() {
        let env = Environment::from_pairs([
            ("AIRFLOW_VAR_REGION", "eu-west-1"),
            ("AIRFLOW_CONN_WAREHOUSE", "postgres://u:p@db:5432/sales"),
        ]);
        assert_eq!(env.variable("region").as_deref(), Some("eu-west-1"));
        assert_eq!(env.variable("zone"), None);
        let warehouse = env.connection("warehouse").unwrap().unwrap();
        assert_eq!(
            (warehouse.conn_type.as_str(), warehouse.port),
            ("postgres", Some(5432))
        );
        assert!(env.connection("other").is_none());
        assert_eq!(
            Environment::from_pairs(Vec::<(String, String)>::new()).variable("region"),
            None
        );
    }

    #[test]
    fn the_process_environment_keeps_only_the_overrides() {
        // Any process has PATH or HOME; neither is an override.
        let env = Environment::process();
        assert!(env.get("PATH").is_none() && env.get("HOME").is_none());
        assert!(env
            .0
            .keys()
            .all(|name| name.starts_with(VARIABLE_PREFIX) || name.starts_with(CONNECTION_PREFIX)));
    }
}
