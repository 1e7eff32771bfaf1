/**
 * @module
 * The dashboard's markup (`GET /app/`), rendered with hono/jsx into the shared page shell (../page.tsx): landmarks,
 * forms and empty containers that the client script (./client.ts) fills from the API. Nothing from the request is
 * reflected; the only server-side choice is whether registration is offered (the `REGISTRATION` setting).
 */

export function DashboardBody(props: { registrationOpen: boolean }) {
  return (
    <>
      <header>
        <h1>Watch history</h1>
        <nav aria-label="Links">
          <a href="/docs">API docs</a>
          <a href="/trakt/oauth-helper/">Trakt connection helper</a>
          <a href="/app/review/">Year in review</a>
          <span id="session" hidden>
            Signed in as <strong id="whoami"></strong>{' '}
            <button type="button" id="signout">
              Sign out
            </button>
          </span>
        </nav>
      </header>
      <main>
        <p id="message" role="status" aria-live="polite"></p>

        <section id="signin" aria-labelledby="signin-heading" class="panel">
          <h2 id="signin-heading">Sign in</h2>
          <form id="signin-form">
            <label>
              <span>Username</span>
              <input id="username" name="username" autocomplete="username" required maxlength={150} />
            </label>
            <label>
              <span>Password</span>
              <input id="password" name="password" type="password" autocomplete="current-password" required />
            </label>
            <button type="submit" id="signin-submit" class="primary">
              Sign in
            </button>
            <button type="button" id="register" hidden={!props.registrationOpen}>
              Create account
            </button>
          </form>
        </section>

        <div id="dashboard" hidden>
          <div class="panels">
            <section id="connection" aria-labelledby="connection-heading" class="panel">
              <h2 id="connection-heading">Trakt connection</h2>
              <p id="connection-state"></p>
              <div id="connect-actions" hidden>
                <a id="connect" class="button primary" href="/trakt/oauth-helper/">
                  Connect Trakt
                </a>
                <button type="button" id="device-start">
                  Use a code instead
                </button>
                <p id="device-box" hidden></p>
              </div>
            </section>
            <section id="sync" aria-labelledby="sync-heading" class="panel">
              <h2 id="sync-heading">Sync</h2>
              <dl class="facts">
                <dt>Last sync</dt>
                <dd id="last-sync"></dd>
                <dt>Next sync</dt>
                <dd id="next-sync"></dd>
                <dt>Stored</dt>
                <dd id="sync-counts"></dd>
                <dt>Artwork</dt>
                <dd id="sync-artwork"></dd>
                <dt>Last error</dt>
                <dd id="sync-error"></dd>
              </dl>
              <p id="sync-paused" class="notice" hidden></p>
              <p id="sync-phase" hidden></p>
              <progress id="sync-progress" hidden aria-label="Sync progress"></progress>
              <button type="button" id="sync-now" class="primary">
                Sync now
              </button>
            </section>
            <section id="import" aria-labelledby="import-heading" class="panel">
              <h2 id="import-heading">Import a Trakt export</h2>
              <p class="muted">
                No Trakt app needed: download your data on trakt.tv (Settings → Data → Export) and choose the ZIP. It is
                unzipped here; only the watch history is sent. Importing again adds only new plays.
              </p>
              <label>
                <span>Export ZIP</span>
                <input id="import-file" type="file" accept=".zip,application/zip" />
              </label>
              <progress id="import-progress" hidden aria-label="Import progress"></progress>
              <p id="import-status" role="status" aria-live="polite"></p>
            </section>
          </div>

          <section id="stats" aria-labelledby="stats-heading">
            <h2 id="stats-heading">Stats</h2>
            <dl class="totals">
              <div>
                <dt>Plays</dt>
                <dd id="total-plays">–</dd>
              </div>
              <div>
                <dt>Watched titles</dt>
                <dd id="total-titles">–</dd>
              </div>
              <div>
                <dt>Hours</dt>
                <dd id="total-hours">–</dd>
              </div>
            </dl>
            <div class="panels">
              <figure>
                <figcaption>Plays per month (last 24 months)</figcaption>
                <div id="month-chart-box" class="chart-box"></div>
              </figure>
              <figure>
                <figcaption>Last 365 days</figcaption>
                <div id="heatmap-box" class="chart-box"></div>
              </figure>
              <figure>
                <figcaption>By weekday and hour</figcaption>
                <div id="weekday-box" class="chart-box"></div>
              </figure>
              <figure>
                <figcaption>Top genres</figcaption>
                <ol id="genres"></ol>
              </figure>
            </div>
          </section>

          <section id="recent" aria-labelledby="recent-heading">
            <h2 id="recent-heading">Recently watched</h2>
            <form id="filters" aria-label="Filter recently watched">
              <label>
                <span>Show</span>
                <select id="type" name="type">
                  <option value="all">Movies and episodes</option>
                  <option value="movies">Movies</option>
                  <option value="episodes">Episodes</option>
                </select>
              </label>
              <label>
                <span>Search titles</span>
                <input id="q" name="q" type="search" maxlength={100} autocomplete="off" />
              </label>
            </form>
            <ul id="grid" aria-label="Recently watched"></ul>
            <p id="grid-empty" class="muted" hidden>
              Nothing here yet.
            </p>
            <button type="button" id="more" hidden>
              Load more
            </button>
            <div id="sentinel"></div>
          </section>
        </div>

        <dialog id="show-dialog" aria-labelledby="show-title">
          <div class="dialog-head">
            <h2 id="show-title">Show</h2>
            <button type="button" id="show-close">
              Close
            </button>
          </div>
          <div id="show-body"></div>
        </dialog>
      </main>
    </>
  );
}
