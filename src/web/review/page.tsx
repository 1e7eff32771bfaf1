/**
 * @module
 * The year-in-review page's markup: empty containers the client script (./client.ts) fills. The same
 * document serves the dashboard (`/app/review/`, the signed-in user's review through the JWT) and the
 * public page (`/u/<handle>/review/<year>`, the shared review's JSON): the script tells them apart by
 * its URL. Nothing from the request is reflected into the document.
 */
export function ReviewBody() {
  return (
    <>
      <header>
        <h1 id="heading">Year in review</h1>
        <nav aria-label="Years" id="years" hidden>
          <a id="previous" href="/app/review/">
            ← previous year
          </a>
          <a id="next" href="/app/review/">
            next year →
          </a>
          <a href="/app/">Dashboard</a>
        </nav>
      </header>
      <main>
        <p id="message" role="status" aria-live="polite"></p>
        <div id="review" hidden>
          <section class="figures" aria-label="Figures">
            <div>
              <strong id="plays"></strong>
              <span>plays</span>
            </div>
            <div>
              <strong id="hours"></strong>
              <span>hours</span>
            </div>
            <div>
              <strong id="titles"></strong>
              <span>titles</span>
            </div>
            <div>
              <strong id="streak"></strong>
              <span>longest streak (days)</span>
            </div>
          </section>
          <section aria-labelledby="highlights-heading">
            <h2 id="highlights-heading">Highlights</h2>
            <ul id="highlights"></ul>
          </section>
          <section aria-labelledby="months-heading">
            <h2 id="months-heading">Month by month</h2>
            <ol id="months" class="months"></ol>
          </section>
          <section aria-labelledby="top-heading">
            <h2 id="top-heading">Top titles</h2>
            <ol id="top-titles" class="top"></ol>
          </section>
          <section aria-labelledby="genres-heading">
            <h2 id="genres-heading">Top genres</h2>
            <ol id="top-genres"></ol>
          </section>
          <section id="share" aria-labelledby="share-heading" hidden>
            <h2 id="share-heading">Share</h2>
            <p id="share-state"></p>
            <a id="share-link" href="/app/review/" hidden>
              Public link
            </a>
            <form id="share-form" hidden>
              <label>
                <span>Public handle</span>
                <input id="share-handle" name="handle" required minlength={3} maxlength={64} />
              </label>
              <button type="submit" id="share-submit">
                Share this review
              </button>
            </form>
          </section>
        </div>
      </main>
      <footer>
        Watch history from <a href="https://trakt.tv">Trakt</a>. Metadata and images from{' '}
        <a href="https://www.themoviedb.org">TMDB</a>. This product uses the TMDB API but is not endorsed or certified
        by TMDB.
      </footer>
    </>
  );
}
