//! proptest strategies for every message body of both directions and the models inside them.
//!
//! Values are built so that a faithful codec gives them back exactly: timestamps in Python's
//! `datetime` range (years 0001 to 9999) at nanosecond precision, durations at the
//! microsecond precision the supervisor keeps, finite floats, JSON maps with unique keys, and
//! state enums that hold an `Unknown` text only when the text is not a known value (as
//! `from_wire` builds them). Optional fields are set and unset; strings are drawn from the
//! whole of Unicode, with lengths at the msgpack `fixstr`/`str8`/`str16` boundaries.
#![allow(dead_code)]

use std::time::Duration;

use airflow_protocol::messages::*;
use airflow_protocol::{JsonMap, JsonValue, Timestamp, Uuid};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::BoxedStrategy;

/// 0001-01-01T00:00:00Z, the earliest instant Python's `datetime` holds.
pub const MIN_SECS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z, the latest whole second Python's `datetime` holds.
pub const MAX_SECS: i64 = 253_402_300_799;

fn ts(secs: i64, nanos: u32) -> Timestamp {
    Timestamp::from_unix(secs, nanos).expect("strategy stays in range")
}

/// The msgpack timestamp width an instant needs: 4, 8 or 12 payload bytes.
pub fn ext_width(t: &Timestamp) -> usize {
    let secs = t.unix_seconds();
    if (0..1 << 34).contains(&secs) {
        if t.subsec_nanos() == 0 && secs <= i64::from(u32::MAX) {
            4
        } else {
            8
        }
    } else {
        12
    }
}

/// Timestamps of all three msgpack widths: timestamp32 (whole seconds 1970..2106),
/// timestamp64 (nanoseconds, 1970..2514), timestamp96 (before 1970, or after 2514), and the
/// edges of each.
pub fn timestamp() -> BoxedStrategy<Timestamp> {
    let nanos = 0..1_000_000_000u32;
    prop_oneof![
        (0..=i64::from(u32::MAX)).prop_map(|s| ts(s, 0)),
        (0..(1i64 << 34), 1..1_000_000_000u32).prop_map(|(s, n)| ts(s, n)),
        (MIN_SECS..0, nanos.clone()).prop_map(|(s, n)| ts(s, n)),
        ((1i64 << 34)..=MAX_SECS, nanos).prop_map(|(s, n)| ts(s, n)),
        select(vec![
            (0, 0),
            (i64::from(u32::MAX), 0),
            (i64::from(u32::MAX) + 1, 0),
            (i64::from(u32::MAX), 1),
            ((1 << 34) - 1, 999_999_999),
            (1 << 34, 0),
            (-1, 999_999_999),
            (-1, 0),
            (MIN_SECS, 0),
            (MAX_SECS, 999_999_999),
            (1_735_689_605, 123_456_000),
        ])
        .prop_map(|(s, n)| ts(s, n)),
    ]
    .boxed()
}

/// Any Unicode text: short names, arbitrary scalar values (controls, NUL, astral), and
/// lengths on each side of the msgpack string-width boundaries.
/// Text of a message field, as [`string`] draws it.
pub fn text() -> BoxedStrategy<Text> {
    string().prop_map(Text::from).boxed()
}

/// Strings drawn from the whole of Unicode, with lengths at the msgpack boundaries.
pub fn string() -> BoxedStrategy<String> {
    prop_oneof![
        4 => "[a-z_][a-z0-9_.-]{0,11}",
        4 => vec(any::<char>(), 0..16).prop_map(String::from_iter),
        1 => select(vec!["", "type", "Ünïcödé ✓", "日本語", "🦀 crab", "\u{0}", "a\nb\"c\\"])
            .prop_map(str::to_owned),
        1 => (select(vec![31usize, 32, 255, 256, 65_535, 65_536]), any::<char>())
            .prop_map(|(len, c)| {
                let mut s = String::with_capacity(len);
                while s.len() + c.len_utf8() <= len {
                    s.push(c);
                }
                while s.len() < len {
                    s.push('x');
                }
                s
            }),
    ]
    .boxed()
}

fn opt_text() -> BoxedStrategy<Option<Text>> {
    option::of(text()).boxed()
}

fn opt_ts() -> BoxedStrategy<Option<Timestamp>> {
    option::of(timestamp()).boxed()
}

fn opt_i64() -> BoxedStrategy<Option<i64>> {
    option::of(any::<i64>()).boxed()
}

/// Finite floats of every class (normal, subnormal, zero of either sign).
pub fn finite_f64() -> BoxedStrategy<f64> {
    use proptest::num::f64 as f;
    (f::POSITIVE | f::NEGATIVE | f::NORMAL | f::SUBNORMAL | f::ZERO).boxed()
}

/// Any JSON value: every scalar kind (integers over the whole `i64` and `u64` ranges), and
/// arrays and maps nested a few levels.
pub fn json_value() -> BoxedStrategy<JsonValue> {
    let leaf = prop_oneof![
        Just(JsonValue::Null),
        any::<bool>().prop_map(JsonValue::Bool),
        any::<i64>().prop_map(JsonValue::from),
        any::<u64>().prop_map(JsonValue::from),
        finite_f64().prop_map(JsonValue::from),
        string().prop_map(JsonValue::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(JsonValue::Array),
            vec((string(), inner), 0..6).prop_map(|kv| JsonValue::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A JSON map with string keys, in insertion order.
pub fn json_map() -> BoxedStrategy<JsonMap> {
    vec((string(), json_value()), 0..5)
        .prop_map(|kv| kv.into_iter().collect())
        .boxed()
}

fn opt_json_map() -> BoxedStrategy<Option<JsonMap>> {
    option::of(json_map()).boxed()
}

/// Values that are a map, a string or null, as kwargs fields hold.
fn kwargs() -> BoxedStrategy<JsonValue> {
    prop_oneof![
        Just(JsonValue::Null),
        json_map().prop_map(JsonValue::Object),
        string().prop_map(JsonValue::String),
    ]
    .boxed()
}

pub fn uuid() -> BoxedStrategy<Uuid> {
    any::<[u8; 16]>().prop_map(Uuid::from_bytes).boxed()
}

/// Durations at microsecond precision (what Python's `timedelta` keeps), up to ten years.
pub fn duration() -> BoxedStrategy<Duration> {
    prop_oneof![
        (0u64..=315_360_000).prop_map(Duration::from_secs),
        (0u64..=315_360_000, 0u32..1_000_000).prop_map(|(s, us)| Duration::new(s, us * 1000)),
    ]
    .boxed()
}

/// A state enum value: mostly known values, sometimes unknown text (read as `from_wire`
/// reads it, so a text that happens to be known is the known value).
fn wire_enum<T: Clone + std::fmt::Debug + 'static>(
    all: &'static [T],
    from_wire: fn(&str) -> T,
) -> BoxedStrategy<T> {
    prop_oneof![
        6 => select(all),
        1 => "[a-zA-Z_]{0,14}".prop_map(move |s| from_wire(&s)),
    ]
    .boxed()
}

pub fn ti_state() -> BoxedStrategy<TaskInstanceState> {
    wire_enum(TaskInstanceState::ALL, TaskInstanceState::from_wire)
}

pub fn dag_run_state() -> BoxedStrategy<DagRunState> {
    wire_enum(DagRunState::ALL, DagRunState::from_wire)
}

pub fn dag_run_type() -> BoxedStrategy<DagRunType> {
    wire_enum(DagRunType::ALL, DagRunType::from_wire)
}

pub fn error_type() -> BoxedStrategy<ErrorType> {
    wire_enum(ErrorType::ALL, ErrorType::from_wire)
}

// --- models -------------------------------------------------------------------------------

pub fn asset_profile() -> BoxedStrategy<AssetProfile> {
    (opt_text(), opt_text(), text())
        .prop_map(|(name, uri, profile_type)| AssetProfile {
            name,
            uri,
            profile_type,
        })
        .boxed()
}

pub fn hitl_user() -> BoxedStrategy<HITLUser> {
    (text(), text())
        .prop_map(|(id, name)| HITLUser { id, name })
        .boxed()
}

pub fn task_instance() -> BoxedStrategy<TaskInstance> {
    (
        uuid(),
        text(),
        text(),
        text(),
        any::<i64>(),
        uuid(),
        opt_i64(),
        opt_text(),
        opt_json_map(),
        opt_text(),
    )
        .prop_map(
            |(
                id,
                task_id,
                dag_id,
                run_id,
                try_number,
                dag_version_id,
                map_index,
                hostname,
                context_carrier,
                queue,
            )| TaskInstance {
                id,
                task_id,
                dag_id,
                run_id,
                try_number,
                dag_version_id,
                map_index,
                hostname,
                context_carrier,
                queue,
            },
        )
        .boxed()
}

pub fn bundle_info() -> BoxedStrategy<BundleInfo> {
    (text(), opt_text())
        .prop_map(|(name, version)| BundleInfo { name, version })
        .boxed()
}

pub fn asset_reference() -> BoxedStrategy<AssetReference> {
    (text(), text(), json_map())
        .prop_map(|(name, uri, extra)| AssetReference { name, uri, extra })
        .boxed()
}

pub fn asset_event_dag_run_reference() -> BoxedStrategy<AssetEventDagRunReference> {
    (
        asset_reference(),
        json_map(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_i64(),
        vec(text().prop_map(|name| AssetAliasReference { name }), 0..3),
        timestamp(),
        opt_text(),
    )
        .prop_map(
            |(
                asset,
                extra,
                source_task_id,
                source_dag_id,
                source_run_id,
                source_map_index,
                source_aliases,
                timestamp,
                partition_key,
            )| AssetEventDagRunReference {
                asset,
                extra,
                source_task_id,
                source_dag_id,
                source_run_id,
                source_map_index,
                source_aliases,
                timestamp,
                partition_key,
            },
        )
        .boxed()
}

pub fn dag_run() -> BoxedStrategy<DagRun> {
    let first = (
        text(),
        text(),
        opt_ts(),
        opt_ts(),
        opt_ts(),
        timestamp(),
        opt_ts(),
        opt_ts(),
        opt_i64(),
    );
    let second = (
        dag_run_type(),
        dag_run_state(),
        opt_json_map(),
        opt_text(),
        vec(asset_event_dag_run_reference(), 0..2),
        opt_text(),
        opt_ts(),
        opt_text(),
        opt_text(),
    );
    (first, second)
        .prop_map(
            |(
                (
                    dag_id,
                    run_id,
                    logical_date,
                    data_interval_start,
                    data_interval_end,
                    run_after,
                    start_date,
                    end_date,
                    clear_number,
                ),
                (
                    run_type,
                    state,
                    conf,
                    triggering_user_name,
                    consumed_asset_events,
                    partition_key,
                    partition_date,
                    note,
                    team_name,
                ),
            )| DagRun {
                dag_id,
                run_id,
                logical_date,
                data_interval_start,
                data_interval_end,
                run_after,
                start_date,
                end_date,
                clear_number,
                run_type,
                state,
                conf,
                triggering_user_name,
                consumed_asset_events,
                partition_key,
                partition_date,
                note,
                team_name,
            },
        )
        .boxed()
}

pub fn connection_response() -> BoxedStrategy<ConnectionResponse> {
    (
        text(),
        text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_i64(),
        opt_text(),
    )
        .prop_map(
            |(conn_id, conn_type, host, schema, login, password, port, extra)| ConnectionResponse {
                conn_id,
                conn_type,
                host,
                schema,
                login,
                password,
                port,
                extra,
            },
        )
        .boxed()
}

pub fn ti_run_context() -> BoxedStrategy<TIRunContext> {
    (
        dag_run(),
        opt_i64(),
        any::<i64>(),
        option::of(vec(
            (text(), opt_text()).prop_map(|(key, value)| VariableResponse { key, value }),
            0..3,
        )),
        option::of(vec(connection_response(), 0..2)),
        opt_text(),
        kwargs(),
        option::of(vec(text(), 0..3)),
        option::of(any::<bool>()),
        opt_ts(),
    )
        .prop_map(
            |(
                dag_run,
                task_reschedule_count,
                max_tries,
                variables,
                connections,
                next_method,
                next_kwargs,
                xcom_keys_to_clear,
                should_retry,
                start_date,
            )| TIRunContext {
                dag_run,
                task_reschedule_count,
                max_tries,
                variables,
                connections,
                next_method,
                next_kwargs,
                xcom_keys_to_clear,
                should_retry,
                start_date,
            },
        )
        .boxed()
}

pub fn startup_details() -> BoxedStrategy<StartupDetails> {
    (
        task_instance(),
        text(),
        bundle_info(),
        timestamp(),
        ti_run_context(),
        text(),
    )
        .prop_map(
            |(ti, dag_rel_path, bundle_info, start_date, ti_context, sentry_integration)| {
                StartupDetails {
                    ti,
                    dag_rel_path,
                    bundle_info,
                    start_date,
                    ti_context,
                    sentry_integration,
                }
            },
        )
        .boxed()
}

pub fn asset_response() -> BoxedStrategy<AssetResponse> {
    (text(), text(), text(), opt_json_map())
        .prop_map(|(name, uri, group, extra)| AssetResponse {
            name,
            uri,
            group,
            extra,
        })
        .boxed()
}

pub fn dag_run_asset_reference() -> BoxedStrategy<DagRunAssetReference> {
    (
        text(),
        text(),
        opt_ts(),
        timestamp(),
        opt_ts(),
        text(),
        opt_ts(),
        opt_ts(),
        opt_text(),
    )
        .prop_map(
            |(
                run_id,
                dag_id,
                logical_date,
                start_date,
                end_date,
                state,
                data_interval_start,
                data_interval_end,
                partition_key,
            )| DagRunAssetReference {
                run_id,
                dag_id,
                logical_date,
                start_date,
                end_date,
                state,
                data_interval_start,
                data_interval_end,
                partition_key,
            },
        )
        .boxed()
}

pub fn asset_event_response() -> BoxedStrategy<AssetEventResponse> {
    (
        any::<i64>(),
        timestamp(),
        opt_json_map(),
        asset_response(),
        vec(dag_run_asset_reference(), 0..2),
        opt_text(),
        opt_text(),
        opt_text(),
        opt_i64(),
        opt_text(),
    )
        .prop_map(
            |(
                id,
                timestamp,
                extra,
                asset,
                created_dagruns,
                source_task_id,
                source_dag_id,
                source_run_id,
                source_map_index,
                partition_key,
            )| AssetEventResponse {
                id,
                timestamp,
                extra,
                asset,
                created_dagruns,
                source_task_id,
                source_dag_id,
                source_run_id,
                source_map_index,
                partition_key,
            },
        )
        .boxed()
}

pub fn previous_ti_response() -> BoxedStrategy<PreviousTIResponse> {
    (
        text(),
        text(),
        text(),
        opt_ts(),
        opt_ts(),
        opt_ts(),
        opt_text(),
        any::<i64>(),
        opt_i64(),
        option::of(finite_f64()),
    )
        .prop_map(
            |(
                task_id,
                dag_id,
                run_id,
                logical_date,
                start_date,
                end_date,
                state,
                try_number,
                map_index,
                duration,
            )| PreviousTIResponse {
                task_id,
                dag_id,
                run_id,
                logical_date,
                start_date,
                end_date,
                state,
                try_number,
                map_index,
                duration,
            },
        )
        .boxed()
}

pub fn error_response() -> BoxedStrategy<ErrorResponse> {
    (error_type(), opt_json_map())
        .prop_map(|(error, detail)| ErrorResponse { error, detail })
        .boxed()
}

fn create_hitl() -> BoxedStrategy<CreateHITLDetailPayload> {
    (
        uuid(),
        vec(text(), 0..3),
        text(),
        opt_text(),
        option::of(vec(text(), 0..3)),
        any::<bool>(),
        opt_json_map(),
        option::of(vec(hitl_user(), 0..2)),
    )
        .prop_map(
            |(ti_id, options, subject, body, defaults, multiple, params, assigned_users)| {
                CreateHITLDetailPayload {
                    ti_id,
                    options,
                    subject,
                    body,
                    defaults,
                    multiple,
                    params,
                    assigned_users,
                }
            },
        )
        .boxed()
}

// --- requests -----------------------------------------------------------------------------

fn four_ids() -> impl Strategy<Value = (Text, Text, Text, Text)> {
    (text(), text(), text(), text())
}

/// A strategy for the request body named `type_name`; panics on a name this file does not
/// know, so that a new message type cannot go untested.
pub fn to_supervisor_of(type_name: &str) -> BoxedStrategy<ToSupervisor> {
    use ToSupervisor as S;
    match type_name {
        "SucceedTask" => (
            timestamp(),
            vec(asset_profile(), 0..3),
            vec(json_map(), 0..3),
            opt_text(),
        )
            .prop_map(
                |(end_date, task_outlets, outlet_events, rendered_map_index)| {
                    S::SucceedTask(SucceedTask {
                        end_date,
                        task_outlets,
                        outlet_events,
                        rendered_map_index,
                    })
                },
            )
            .boxed(),
        "RetryTask" => (
            timestamp(),
            opt_text(),
            option::of(finite_f64()),
            opt_text(),
        )
            .prop_map(
                |(end_date, rendered_map_index, retry_delay_seconds, retry_reason)| {
                    S::RetryTask(RetryTask {
                        end_date,
                        rendered_map_index,
                        retry_delay_seconds,
                        retry_reason,
                    })
                },
            )
            .boxed(),
        "TaskState" => (
            select(vec![
                TerminalState::Failed,
                TerminalState::Skipped,
                TerminalState::Removed,
            ]),
            opt_ts(),
            opt_text(),
        )
            .prop_map(|(state, end_date, rendered_map_index)| {
                S::TaskState(TaskState {
                    state,
                    end_date,
                    rendered_map_index,
                })
            })
            .boxed(),
        "DeferTask" => (
            text(),
            // `Some(Null)` and `None` are the same nil on the wire; the decoder reads `None`.
            option::of(json_value().prop_filter("nil is None", |v| !v.is_null())),
            option::of(duration()),
            opt_text(),
            text(),
            opt_json_map(),
            opt_text(),
        )
            .prop_map(
                |(
                    classpath,
                    trigger_kwargs,
                    trigger_timeout,
                    queue,
                    next_method,
                    next_kwargs,
                    rendered_map_index,
                )| {
                    S::DeferTask(DeferTask {
                        classpath,
                        trigger_kwargs,
                        trigger_timeout,
                        queue,
                        next_method,
                        next_kwargs,
                        rendered_map_index,
                    })
                },
            )
            .boxed(),
        "RescheduleTask" => (timestamp(), timestamp())
            .prop_map(|(reschedule_date, end_date)| {
                S::RescheduleTask(RescheduleTask {
                    reschedule_date,
                    end_date,
                })
            })
            .boxed(),
        "AwaitInputTask" => (option::of(duration()), text(), opt_json_map(), opt_text())
            .prop_map(|(timeout, next_method, next_kwargs, rendered_map_index)| {
                S::AwaitInputTask(AwaitInputTask {
                    timeout,
                    next_method,
                    next_kwargs,
                    rendered_map_index,
                })
            })
            .boxed(),
        "SkipDownstreamTasks" => vec(
            prop_oneof![
                text().prop_map(SkipTarget::Task),
                (text(), any::<i64>()).prop_map(|(t, i)| SkipTarget::Mapped(t, i)),
            ],
            0..4,
        )
        .prop_map(|tasks| S::SkipDownstreamTasks(SkipDownstreamTasks { tasks }))
        .boxed(),
        "GetConnection" => text()
            .prop_map(|conn_id| S::GetConnection(GetConnection { conn_id }))
            .boxed(),
        "GetVariable" => text()
            .prop_map(|key| S::GetVariable(GetVariable { key }))
            .boxed(),
        "GetVariableKeys" => (opt_text(), any::<i64>(), any::<i64>())
            .prop_map(|(prefix, limit, offset)| {
                S::GetVariableKeys(GetVariableKeys {
                    prefix,
                    limit,
                    offset,
                })
            })
            .boxed(),
        "PutVariable" => (text(), opt_text(), opt_text())
            .prop_map(|(key, value, description)| {
                S::PutVariable(PutVariable {
                    key,
                    value,
                    description,
                })
            })
            .boxed(),
        "DeleteVariable" => text()
            .prop_map(|key| S::DeleteVariable(DeleteVariable { key }))
            .boxed(),
        "GetXCom" => (four_ids(), opt_i64(), any::<bool>())
            .prop_map(
                |((key, dag_id, run_id, task_id), map_index, include_prior_dates)| {
                    S::GetXCom(GetXCom {
                        key,
                        dag_id,
                        run_id,
                        task_id,
                        map_index,
                        include_prior_dates,
                    })
                },
            )
            .boxed(),
        "GetXComCount" => four_ids()
            .prop_map(|(key, dag_id, run_id, task_id)| {
                S::GetXComCount(GetXComCount {
                    key,
                    dag_id,
                    run_id,
                    task_id,
                })
            })
            .boxed(),
        "GetXComSequenceItem" => (four_ids(), any::<i64>())
            .prop_map(|((key, dag_id, run_id, task_id), offset)| {
                S::GetXComSequenceItem(GetXComSequenceItem {
                    key,
                    dag_id,
                    run_id,
                    task_id,
                    offset,
                })
            })
            .boxed(),
        "GetXComSequenceSlice" => (four_ids(), opt_i64(), opt_i64(), opt_i64(), any::<bool>())
            .prop_map(
                |((key, dag_id, run_id, task_id), start, stop, step, include_prior_dates)| {
                    S::GetXComSequenceSlice(GetXComSequenceSlice {
                        key,
                        dag_id,
                        run_id,
                        task_id,
                        start,
                        stop,
                        step,
                        include_prior_dates,
                    })
                },
            )
            .boxed(),
        "SetXCom" => (
            four_ids(),
            json_value(),
            opt_i64(),
            any::<bool>(),
            opt_i64(),
        )
            .prop_map(
                |((key, dag_id, run_id, task_id), value, map_index, dag_result, mapped_length)| {
                    S::SetXCom(SetXCom {
                        key,
                        value,
                        dag_id,
                        run_id,
                        task_id,
                        map_index,
                        dag_result,
                        mapped_length,
                    })
                },
            )
            .boxed(),
        "DeleteXCom" => (four_ids(), opt_i64())
            .prop_map(|((key, dag_id, run_id, task_id), map_index)| {
                S::DeleteXCom(DeleteXCom {
                    key,
                    dag_id,
                    run_id,
                    task_id,
                    map_index,
                })
            })
            .boxed(),
        "SetRenderedFields" => json_map()
            .prop_map(|rendered_fields| S::SetRenderedFields(SetRenderedFields { rendered_fields }))
            .boxed(),
        "SetRenderedMapIndex" => text()
            .prop_map(|rendered_map_index| {
                S::SetRenderedMapIndex(SetRenderedMapIndex { rendered_map_index })
            })
            .boxed(),
        "MaskSecret" => (json_value(), opt_text())
            .prop_map(|(value, name)| S::MaskSecret(MaskSecret { value, name }))
            .boxed(),
        "TriggerDagRun" => (
            text(),
            text(),
            opt_ts(),
            opt_ts(),
            opt_json_map(),
            any::<bool>(),
            opt_text(),
            opt_text(),
        )
            .prop_map(
                |(
                    dag_id,
                    run_id,
                    logical_date,
                    run_after,
                    conf,
                    reset_dag_run,
                    partition_key,
                    note,
                )| {
                    S::TriggerDagRun(TriggerDagRun {
                        dag_id,
                        run_id,
                        logical_date,
                        run_after,
                        conf,
                        reset_dag_run,
                        partition_key,
                        note,
                    })
                },
            )
            .boxed(),
        "GetDagRun" => (text(), text())
            .prop_map(|(dag_id, run_id)| S::GetDagRun(GetDagRun { dag_id, run_id }))
            .boxed(),
        "GetDagRunState" => (text(), text())
            .prop_map(|(dag_id, run_id)| S::GetDagRunState(GetDagRunState { dag_id, run_id }))
            .boxed(),
        "GetDRCount" => (
            text(),
            option::of(vec(timestamp(), 0..3)),
            option::of(vec(text(), 0..3)),
            option::of(vec(dag_run_state(), 0..3)),
        )
            .prop_map(|(dag_id, logical_dates, run_ids, states)| {
                S::GetDRCount(GetDRCount {
                    dag_id,
                    logical_dates,
                    run_ids,
                    states,
                })
            })
            .boxed(),
        "GetPreviousDagRun" => (text(), timestamp(), option::of(dag_run_state()))
            .prop_map(|(dag_id, logical_date, state)| {
                S::GetPreviousDagRun(GetPreviousDagRun {
                    dag_id,
                    logical_date,
                    state,
                })
            })
            .boxed(),
        "GetPrevSuccessfulDagRun" => uuid()
            .prop_map(|ti_id| S::GetPrevSuccessfulDagRun(GetPrevSuccessfulDagRun { ti_id }))
            .boxed(),
        "GetPreviousTI" => (
            text(),
            text(),
            opt_ts(),
            any::<i64>(),
            option::of(ti_state()),
        )
            .prop_map(|(dag_id, task_id, logical_date, map_index, state)| {
                S::GetPreviousTI(GetPreviousTI {
                    dag_id,
                    task_id,
                    logical_date,
                    map_index,
                    state,
                })
            })
            .boxed(),
        "GetTICount" => (
            text(),
            opt_i64(),
            option::of(vec(text(), 0..3)),
            opt_text(),
            option::of(vec(timestamp(), 0..3)),
            option::of(vec(text(), 0..3)),
            option::of(vec(ti_state(), 0..3)),
        )
            .prop_map(
                |(dag_id, map_index, task_ids, task_group_id, logical_dates, run_ids, states)| {
                    S::GetTICount(GetTICount {
                        dag_id,
                        map_index,
                        task_ids,
                        task_group_id,
                        logical_dates,
                        run_ids,
                        states,
                    })
                },
            )
            .boxed(),
        "GetTaskStates" => (
            text(),
            opt_i64(),
            option::of(vec(text(), 0..3)),
            opt_text(),
            option::of(vec(timestamp(), 0..3)),
            option::of(vec(text(), 0..3)),
        )
            .prop_map(
                |(dag_id, map_index, task_ids, task_group_id, logical_dates, run_ids)| {
                    S::GetTaskStates(GetTaskStates {
                        dag_id,
                        map_index,
                        task_ids,
                        task_group_id,
                        logical_dates,
                        run_ids,
                    })
                },
            )
            .boxed(),
        "GetTaskBreadcrumbs" => (text(), text())
            .prop_map(|(dag_id, run_id)| {
                S::GetTaskBreadcrumbs(GetTaskBreadcrumbs { dag_id, run_id })
            })
            .boxed(),
        "GetTaskRescheduleStartDate" => (uuid(), any::<i64>())
            .prop_map(|(ti_id, try_number)| {
                S::GetTaskRescheduleStartDate(GetTaskRescheduleStartDate { ti_id, try_number })
            })
            .boxed(),
        "GetDag" => text()
            .prop_map(|dag_id| S::GetDag(GetDag { dag_id }))
            .boxed(),
        "GetAssetByName" => text()
            .prop_map(|name| S::GetAssetByName(GetAssetByName { name }))
            .boxed(),
        "GetAssetByUri" => text()
            .prop_map(|uri| S::GetAssetByUri(GetAssetByUri { uri }))
            .boxed(),
        "GetAssetsByAlias" => text()
            .prop_map(|alias_name| S::GetAssetsByAlias(GetAssetsByAlias { alias_name }))
            .boxed(),
        "GetAssetEventByAsset" => (
            opt_text(),
            opt_text(),
            opt_ts(),
            opt_ts(),
            opt_i64(),
            any::<bool>(),
        )
            .prop_map(|(name, uri, after, before, limit, ascending)| {
                S::GetAssetEventByAsset(GetAssetEventByAsset {
                    name,
                    uri,
                    after,
                    before,
                    limit,
                    ascending,
                })
            })
            .boxed(),
        "GetAssetEventByAssetAlias" => (text(), opt_ts(), opt_ts(), opt_i64(), any::<bool>())
            .prop_map(|(alias_name, after, before, limit, ascending)| {
                S::GetAssetEventByAssetAlias(GetAssetEventByAssetAlias {
                    alias_name,
                    after,
                    before,
                    limit,
                    ascending,
                })
            })
            .boxed(),
        "ValidateInletsAndOutlets" => uuid()
            .prop_map(|ti_id| S::ValidateInletsAndOutlets(ValidateInletsAndOutlets { ti_id }))
            .boxed(),
        "GetTaskStateStore" => (uuid(), text())
            .prop_map(|(ti_id, key)| S::GetTaskStateStore(GetTaskStateStore { ti_id, key }))
            .boxed(),
        "SetTaskStateStore" => (uuid(), text(), json_value(), opt_ts())
            .prop_map(|(ti_id, key, value, expires_at)| {
                S::SetTaskStateStore(SetTaskStateStore {
                    ti_id,
                    key,
                    value,
                    expires_at,
                })
            })
            .boxed(),
        "DeleteTaskStateStore" => (uuid(), text())
            .prop_map(|(ti_id, key)| S::DeleteTaskStateStore(DeleteTaskStateStore { ti_id, key }))
            .boxed(),
        "ClearTaskStateStore" => uuid()
            .prop_map(|ti_id| S::ClearTaskStateStore(ClearTaskStateStore { ti_id }))
            .boxed(),
        "GetAssetStateStoreByName" => (text(), text())
            .prop_map(|(name, key)| {
                S::GetAssetStateStoreByName(GetAssetStateStoreByName { name, key })
            })
            .boxed(),
        "GetAssetStateStoreByUri" => (text(), text())
            .prop_map(|(uri, key)| S::GetAssetStateStoreByUri(GetAssetStateStoreByUri { uri, key }))
            .boxed(),
        "SetAssetStateStoreByName" => (text(), text(), json_value())
            .prop_map(|(name, key, value)| {
                S::SetAssetStateStoreByName(SetAssetStateStoreByName { name, key, value })
            })
            .boxed(),
        "SetAssetStateStoreByUri" => (text(), text(), json_value())
            .prop_map(|(uri, key, value)| {
                S::SetAssetStateStoreByUri(SetAssetStateStoreByUri { uri, key, value })
            })
            .boxed(),
        "DeleteAssetStateStoreByName" => (text(), text())
            .prop_map(|(name, key)| {
                S::DeleteAssetStateStoreByName(DeleteAssetStateStoreByName { name, key })
            })
            .boxed(),
        "DeleteAssetStateStoreByUri" => (text(), text())
            .prop_map(|(uri, key)| {
                S::DeleteAssetStateStoreByUri(DeleteAssetStateStoreByUri { uri, key })
            })
            .boxed(),
        "ClearAssetStateStoreByName" => text()
            .prop_map(|name| S::ClearAssetStateStoreByName(ClearAssetStateStoreByName { name }))
            .boxed(),
        "ClearAssetStateStoreByUri" => text()
            .prop_map(|uri| S::ClearAssetStateStoreByUri(ClearAssetStateStoreByUri { uri }))
            .boxed(),
        "CreateHITLDetailPayload" => create_hitl().prop_map(S::CreateHITLDetailPayload).boxed(),
        "UpdateHITLDetail" => (uuid(), vec(text(), 0..3), opt_json_map())
            .prop_map(|(ti_id, chosen_options, params_input)| {
                S::UpdateHITLDetail(UpdateHITLDetail {
                    ti_id,
                    chosen_options,
                    params_input,
                })
            })
            .boxed(),
        "GetHITLDetailResponse" => uuid()
            .prop_map(|ti_id| S::GetHITLDetailResponse(GetHITLDetailResponse { ti_id }))
            .boxed(),
        "ResendLoggingFD" => Just(S::ResendLoggingFD(ResendLoggingFD {})).boxed(),
        other => panic!("no strategy for request type {other}: add one to tests/strategies"),
    }
}

/// Any request body.
pub fn to_supervisor() -> BoxedStrategy<ToSupervisor> {
    select(ToSupervisor::TYPE_NAMES)
        .prop_flat_map(to_supervisor_of)
        .boxed()
}

// --- responses ----------------------------------------------------------------------------

/// A strategy for the response body named `type_name`; panics on a name this file does not
/// know, so that a new message type cannot go untested.
pub fn to_task_of(type_name: &str) -> BoxedStrategy<ToTask> {
    use ToTask as T;
    match type_name {
        "StartupDetails" => startup_details()
            .prop_map(|d| T::StartupDetails(Box::new(d)))
            .boxed(),
        "ErrorResponse" => error_response().prop_map(T::ErrorResponse).boxed(),
        "ConnectionResult" => (
            text(),
            text(),
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
            opt_i64(),
            opt_text(),
        )
            .prop_map(
                |(conn_id, conn_type, host, schema, login, password, port, extra)| {
                    T::from(ConnectionResult {
                        conn_id,
                        conn_type,
                        host,
                        schema,
                        login,
                        password,
                        port,
                        extra,
                    })
                },
            )
            .boxed(),
        "VariableResult" => (text(), opt_text())
            .prop_map(|(key, value)| T::VariableResult(VariableResult { key, value }))
            .boxed(),
        "VariableKeysResult" => (vec(text(), 0..4), any::<i64>())
            .prop_map(|(keys, total_entries)| {
                T::VariableKeysResult(VariableKeysResult {
                    keys,
                    total_entries,
                })
            })
            .boxed(),
        "XComResult" => (text(), json_value())
            .prop_map(|(key, value)| T::XComResult(XComResult { key, value }))
            .boxed(),
        "XComCountResponse" => any::<i64>()
            .prop_map(|len| T::XComCountResponse(XComCountResponse { len }))
            .boxed(),
        "XComSequenceIndexResult" => json_value()
            .prop_map(|root| T::XComSequenceIndexResult(XComSequenceIndexResult { root }))
            .boxed(),
        "XComSequenceSliceResult" => vec(json_value(), 0..4)
            .prop_map(|root| T::XComSequenceSliceResult(XComSequenceSliceResult { root }))
            .boxed(),
        "DagRunResult" => dag_run().prop_map(T::from).boxed(),
        "DagRunStateResult" => dag_run_state()
            .prop_map(|state| T::DagRunStateResult(DagRunStateResult { state }))
            .boxed(),
        "DRCount" => any::<i64>()
            .prop_map(|count| T::DRCount(DRCount { count }))
            .boxed(),
        "DagResult" => (
            text(),
            any::<bool>(),
            opt_text(),
            opt_text(),
            opt_text(),
            opt_text(),
            vec(text(), 0..3),
            opt_ts(),
        )
            .prop_map(
                |(
                    dag_id,
                    is_paused,
                    bundle_name,
                    bundle_version,
                    relative_fileloc,
                    owners,
                    tags,
                    next_dagrun,
                )| {
                    T::from(DagResult {
                        dag_id,
                        is_paused,
                        bundle_name,
                        bundle_version,
                        relative_fileloc,
                        owners,
                        tags,
                        next_dagrun,
                    })
                },
            )
            .boxed(),
        "PreviousDagRunResult" => option::of(dag_run())
            .prop_map(|dag_run| T::from(PreviousDagRunResult { dag_run }))
            .boxed(),
        "PrevSuccessfulDagRunResult" => (opt_ts(), opt_ts(), opt_ts(), opt_ts())
            .prop_map(
                |(data_interval_start, data_interval_end, start_date, end_date)| {
                    T::PrevSuccessfulDagRunResult(PrevSuccessfulDagRunResult {
                        data_interval_start,
                        data_interval_end,
                        start_date,
                        end_date,
                    })
                },
            )
            .boxed(),
        "PreviousTIResult" => option::of(previous_ti_response())
            .prop_map(|task_instance| T::from(PreviousTIResult { task_instance }))
            .boxed(),
        "TaskRescheduleStartDate" => opt_ts()
            .prop_map(|start_date| {
                T::TaskRescheduleStartDate(TaskRescheduleStartDate { start_date })
            })
            .boxed(),
        "TICount" => any::<i64>()
            .prop_map(|count| T::TICount(TICount { count }))
            .boxed(),
        "TaskStatesResult" => json_map()
            .prop_map(|task_states| T::TaskStatesResult(TaskStatesResult { task_states }))
            .boxed(),
        "TaskBreadcrumbsResult" => vec(json_map(), 0..3)
            .prop_map(|breadcrumbs| T::TaskBreadcrumbsResult(TaskBreadcrumbsResult { breadcrumbs }))
            .boxed(),
        "AssetResult" => asset_response().prop_map(T::from).boxed(),
        "AssetsByAliasResult" => vec(asset_response(), 0..3)
            .prop_map(|assets| T::AssetsByAliasResult(AssetsByAliasResult { assets }))
            .boxed(),
        "AssetEventsResult" => vec(asset_event_response(), 0..3)
            .prop_map(|asset_events| T::AssetEventsResult(AssetEventsResult { asset_events }))
            .boxed(),
        "InactiveAssetsResult" => option::of(vec(asset_profile(), 0..3))
            .prop_map(|inactive_assets| {
                T::InactiveAssetsResult(InactiveAssetsResult { inactive_assets })
            })
            .boxed(),
        "TaskStateStoreResult" => json_value()
            .prop_map(|value| T::TaskStateStoreResult(TaskStateStoreResult { value }))
            .boxed(),
        "AssetStateStoreResult" => json_value()
            .prop_map(|value| T::AssetStateStoreResult(AssetStateStoreResult { value }))
            .boxed(),
        "CreateHITLDetailPayload" => create_hitl().prop_map(T::from).boxed(),
        "HITLDetailRequestResult" => (
            uuid(),
            vec(text(), 0..3),
            text(),
            opt_text(),
            option::of(vec(text(), 0..3)),
            any::<bool>(),
            opt_json_map(),
            option::of(vec(hitl_user(), 0..2)),
        )
            .prop_map(
                |(ti_id, options, subject, body, defaults, multiple, params, assigned_users)| {
                    T::from(HITLDetailRequestResult {
                        ti_id,
                        options,
                        subject,
                        body,
                        defaults,
                        multiple,
                        params,
                        assigned_users,
                    })
                },
            )
            .boxed(),
        "OKResponse" => any::<bool>()
            .prop_map(|ok| T::OKResponse(OKResponse { ok }))
            .boxed(),
        "SentFDs" => vec(any::<i64>(), 0..4)
            .prop_map(|fds| T::SentFDs(SentFDs { fds }))
            .boxed(),
        other => panic!("no strategy for response type {other}: add one to tests/strategies"),
    }
}

/// Any response body of a known type.
pub fn to_task() -> BoxedStrategy<ToTask> {
    select(ToTask::TYPE_NAMES).prop_flat_map(to_task_of).boxed()
}

/// Any request body the supervisor would accept (what a `TaskSession` agrees to send).
pub fn valid_to_supervisor() -> BoxedStrategy<ToSupervisor> {
    to_supervisor()
        .prop_filter("the session refuses invalid requests", |b| {
            b.validate().is_ok()
        })
        .boxed()
}
