-- Accounts, projects, API keys and the events table.
CREATE TABLE accounts (
    account_id  uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan        text NOT NULL CHECK (plan IN ('free', 'pro', 'business')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE projects (
    project_id  uuid PRIMARY KEY,
    account_id  uuid NOT NULL REFERENCES accounts (account_id),
    slug        text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone   text NOT NULL DEFAULT 'UTC',
    domains     text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, slug)
);

-- Keys are stored only as SHA-256 hashes; `prefix` is what listings show.
CREATE TABLE api_keys (
    key_id      uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('pk', 'sk', 'rk', 'ak')),
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    prefix      text NOT NULL,
    account_id  uuid NOT NULL REFERENCES accounts (account_id),
    project_id  uuid REFERENCES projects (project_id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((kind = 'ak') = (project_id IS NULL))
);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- One row per stored event; (project_id, event_id) makes every write idempotent.
CREATE TABLE events (
    project_id          uuid NOT NULL,
    event_id            uuid NOT NULL,
    timestamp           timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    event               text NOT NULL,
    anonymous_id        text,
    user_id             text,
    visitor_id          text GENERATED ALWAYS AS (coalesce(anonymous_id, user_id)) STORED,
    properties          jsonb NOT NULL DEFAULT '{}',
    context             jsonb NOT NULL DEFAULT '{}',
    source              text,
    medium              text,
    campaign            text,
    channel             text,
    is_paid             boolean,
    utm_source          text,
    utm_medium          text,
    utm_campaign        text,
    utm_content         text,
    utm_term            text,
    referrer_host       text,
    click_ids           text[],
    attribution_version integer,
    PRIMARY KEY (project_id, event_id),
    CHECK (anonymous_id IS NOT NULL OR user_id IS NOT NULL)
);
CREATE INDEX events_project_time ON events (project_id, timestamp DESC, event_id DESC);
