//! The weather-api `POST /events` body parser: any bytes -> `NewEvent::from_json`.
//! Must never panic; what it accepts must be a valid event that serializes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use weather_api::{EventId, NewEvent};

fuzz_target!(|data: &[u8]| {
    let Ok(new) = NewEvent::from_json(data) else {
        return;
    };
    let event = new.into_event(EventId::random(), Some("fuzz".into()));
    assert!(!event.name.trim().is_empty());
    assert!(event.date_start <= event.date_end);
    let json = serde_json::to_string(&event).expect("event serializes");
    assert!(json.contains("\"dateStart\""), "{json}");
});
