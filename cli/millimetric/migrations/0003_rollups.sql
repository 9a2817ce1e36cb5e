-- Rollups maintained by the ingest worker in the same transaction as the events they summarise,
-- from the rows that transaction actually inserted (duplicates never count twice).
--
-- event_counts_hourly: events per UTC hour and attribution/event group. Counts add up, so any
-- window and any bucket made of whole UTC hours is answered exactly from it.
CREATE TABLE event_counts_hourly (
    project_id  uuid NOT NULL,
    hour        timestamptz NOT NULL,
    event       text NOT NULL,
    source      text,
    medium      text,
    campaign    text,
    channel     text,
    events      bigint NOT NULL,
    CONSTRAINT event_counts_hourly_key UNIQUE NULLS NOT DISTINCT (project_id, hour, event, source, medium, campaign, channel)
);

-- visitor_hours: which visitor had events of which group in which UTC hour. Distinct visitors do not
-- add up across hours, so uniques are counted from these rows (a narrow table, one row per visitor,
-- hour and group instead of per event) with count(DISTINCT visitor_id): exact, never summed.
CREATE TABLE visitor_hours (
    project_id  uuid NOT NULL,
    hour        timestamptz NOT NULL,
    visitor_id  text NOT NULL,
    event       text NOT NULL,
    source      text,
    medium      text,
    campaign    text,
    channel     text,
    CONSTRAINT visitor_hours_key UNIQUE NULLS NOT DISTINCT (project_id, hour, visitor_id, event, source, medium, campaign, channel)
);

INSERT INTO event_counts_hourly (project_id, hour, event, source, medium, campaign, channel, events)
SELECT project_id, date_trunc('hour', timestamp, 'UTC'), event, source, medium, campaign, channel, count(*)
FROM events GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO visitor_hours (project_id, hour, visitor_id, event, source, medium, campaign, channel)
SELECT DISTINCT project_id, date_trunc('hour', timestamp, 'UTC'), visitor_id, event, source, medium, campaign, channel
FROM events;
