/* ipdma calculator: one generic evaluator for every model kind.  The spec (plain JSON,
   inline in the page) holds the inputs, the model parameters and the interval constants;
   each model kind is a small function below (KINDS) that repeats the Python predict
   arithmetic in the same order.  No network, no libraries. */
(function () {
  "use strict";
  var SPEC = JSON.parse(document.getElementById("ipdma-spec").textContent);

  // ------------------------------------------------------------------ numerics
  function expitTanh(x) { return 0.5 * (1.0 + Math.tanh(0.5 * x)); }   // ipdma.nmr expit
  function expitExp(x) { return 1.0 / (1.0 + Math.exp(-x)); }          // scipy.special.expit
  function logit(p) { return Math.log(p) - Math.log1p(-p); }
  // binary arrays: a base64 string, or (large arrays) a Uint8Array inflated at start-up
  // from {zlib, shuffle, n} (see unpackAll)
  function raw(x) {
    if (typeof x !== "string") return x;
    var bin = atob(x), n = bin.length, u = new Uint8Array(n);
    for (var i = 0; i < n; i++) u[i] = bin.charCodeAt(i);
    return u;
  }
  function decodeF64(x) { return new Float64Array(raw(x).buffer); }
  function inflate(blob) {
    var z = raw(blob.zlib), k = blob.shuffle, n = blob.n;
    var stream = new Blob([z]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buf) {
      var s = new Uint8Array(buf), out = new Uint8Array(n), m = n / k;
      for (var j = 0; j < k; j++) for (var i = 0; i < m; i++) out[i * k + j] = s[j * m + i];
      return out;
    });
  }
  function unpackAll(obj) {          // replace every {zlib, shuffle, n} in the spec
    var jobs = [];
    (function walk(o) {
      if (!o || typeof o !== "object") return;
      Object.keys(o).forEach(function (key) {
        var v = o[key];
        if (v && typeof v === "object" && typeof v.zlib === "string") {
          jobs.push(inflate(v).then(function (u) { o[key] = u; }));
        } else walk(v);
      });
    })(obj);
    return Promise.all(jobs);
  }
  // numpy.quantile(method="linear") on a sorted Float64Array, numpy's lerp
  function quantileSorted(a, q) {
    var n = a.length, h = (n - 1) * q, i = Math.floor(h), t = h - i;
    if (i + 1 >= n) return a[n - 1];
    var lo = a[i], hi = a[i + 1], d = hi - lo;
    return t >= 0.5 ? hi - d * (1 - t) : lo + d * t;
  }
  function quantiles(arr, qs) {
    var s = Float64Array.from(arr).sort();
    return qs.map(function (q) { return quantileSorted(s, q); });
  }
  function mean(arr) { var s = 0; for (var i = 0; i < arr.length; i++) s += arr[i]; return s / arr.length; }
  function dot(a, b) { var s = 0; for (var i = 0; i < a.length; i++) s += a[i] * b[i]; return s; }
  function quad(g, V) {          // g' V g
    var n = g.length, s = 0;
    for (var i = 0; i < n; i++) { var r = 0; for (var j = 0; j < n; j++) r += V[i][j] * g[j]; s += g[i] * r; }
    return s;
  }
  function argmaxFirst(v) { var b = 0; for (var i = 1; i < v.length; i++) if (v[i] > v[b]) b = i; return b; }

  // ------------------------------------------------------------------ special functions
  // (Weibull RMST: lambda Gamma(1 + a) P(a, U), as scipy.special.gamma / gammainc)
  // log Gamma(1 + z) = -gamma_E z + (z - log1p(z)) + sum_k (-1)^k (zeta(k) - 1) z^k / k,
  // |z| <= 0.5; these are the coefficients (-1)^k (zeta(k) - 1) / k, k = 2..31
  var LG_ZC = [0.3224670334241132, -0.0673523010531981, 0.020580808427784546, -0.007385551028673986,
    0.0028905103307415234, -0.001192753911703261, 0.0005096695247430425, -0.00022315475845357936,
    9.945751278180853e-05, -4.492623673813314e-05, 2.0507212775670694e-05, -9.439488275268395e-06,
    4.374866789907487e-06, -2.039215753801366e-06, 9.55141213040742e-07, -4.492469198764566e-07,
    2.1207184805554667e-07, -1.00432248239681e-07, 4.769810169363981e-08, -2.2711094608943164e-08,
    1.0838659214896955e-08, -5.183475041970047e-09, 2.4836745438024785e-09, -1.1921401405860912e-09,
    5.731367241678862e-10, -2.7595228851242334e-10, 1.3304764374244491e-10, -6.422964563838101e-11,
    3.104424774732227e-11, -1.5021384080754142e-11];
  var EULER_GAMMA = 0.5772156649015329, LOG_SQRT_2PI = 0.9189385332046728;
  function lgamma1p(z) {             // log Gamma(1 + z), |z| <= 0.5
    var s = 0;
    for (var k = LG_ZC.length - 1; k >= 0; k--) s = s * z + LG_ZC[k];
    return (s * z * z - EULER_GAMMA * z) + (z - Math.log1p(z));
  }
  function stirlingCorr(y) {         // log Gamma(y) - ((y - 1/2) log y - y + log sqrt(2 pi)), y >= 10
    var r = 1 / y, r2 = r * r;
    return r * (1 / 12 - r2 * (1 / 360 - r2 * (1 / 1260 - r2 * (1 / 1680 - r2 * (1 / 1188 - r2 * (691 / 360360 - r2 / 156))))));
  }
  // log Gamma(x), x > 0: the series on [0.5, 1.5], the recurrence below 10, Stirling above
  function lgamma(x) {
    if (!(x > 0)) return NaN;
    if (x === Infinity) return Infinity;
    if (x < 0.5) return lgamma1p(x) - Math.log(x);
    if (x <= 1.5) return lgamma1p(x - 1);
    if (x < 10) {
      var n = Math.floor(x - 0.5), x0 = x - n, p = x0;
      for (var i = 1; i < n; i++) p *= x0 + i;
      return lgamma1p(x0 - 1) + Math.log(p);
    }
    return (x - 0.5) * Math.log(x) - x + LOG_SQRT_2PI + stirlingCorr(x);
  }
  // Gamma(x), x > 0: below 20 as Gamma(x0) x0 (x0 + 1) ... with x0 in [0.5, 1.5) (exact
  // factorials), else exp(log Gamma)
  function gammaFn(x) {
    if (!(x > 0)) return NaN;
    if (x < 0.5) return gammaFn(x + 1) / x;
    if (x >= 20) return Math.exp(lgamma(x));
    var n = Math.floor(x - 0.5), x0 = x - n, p = 1;
    for (var i = 0; i < n; i++) p *= x0 + i;
    return Math.exp(lgamma1p(x0 - 1)) * p;
  }
  // log(x^a e^-x / Gamma(a + 1)); near x = a (large a) in the Stirling form, no cancellation
  function logGammaFactor(a, x) {
    var t = (x - a) / a;
    if (a >= 10 && Math.abs(t) < 0.5) {
      return a * (Math.log1p(t) - t) - 0.5 * Math.log(2 * Math.PI * a) - stirlingCorr(a);
    }
    return a * Math.log(x) - x - lgamma(a + 1);
  }
  // regularised lower incomplete gamma P(a, x) = scipy.special.gammainc(a, x), a > 0, x >= 0:
  // power series for x < a + 1, else 1 - Q(a, x) with Q by its continued fraction (modified
  // Lentz)
  function gammaP(a, x) {
    if (!(a > 0) || !(x >= 0)) return NaN;
    if (x === 0) return 0;
    if (x === Infinity) return 1;
    var lf = logGammaFactor(a, x);
    if (x < a + 1) {
      var term = 1, sum = 1;
      for (var n = 1; n < 100000; n++) {
        term *= x / (a + n); sum += term;
        if (term < sum * 1e-17) break;
      }
      return Math.exp(lf) * sum;
    }
    var tiny = 1e-300, b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
    for (var i = 1; i < 100000; i++) {
      var an = -i * (i - a);
      b += 2;
      d = an * d + b; if (Math.abs(d) < tiny) d = tiny;
      c = b + an / c; if (Math.abs(c) < tiny) c = tiny;
      d = 1 / d;
      var del = d * c;
      h *= del;
      if (Math.abs(del - 1) < 3e-16) break;
    }
    return 1 - a * Math.exp(lf) * h;
  }
  // Weibull PH baseline H0(t) = t^shape of a two-stage ITE trial (families.WeibullBaseline):
  // RMST(tau) = c^(-a) Gamma(1 + a) P(a, c tau^shape), a = 1 / shape, c = e^eta, and its
  // derivative in eta, -a c^(-a) Gamma(1 + a) P(1 + a, c tau^shape); tr.g1a = Gamma(1 + a)
  // and tr.tau_shape = tau^shape come from Python
  function weibullArmRmst(tr, c, deriv) {
    var a = 1.0 / tr.shape, pre = Math.pow(c, -a) * tr.g1a, U = c * tr.tau_shape;
    return deriv ? -a * pre * gammaP(1.0 + a, U) : pre * gammaP(a, U);
  }
  // survreg Weibull on the log-time scale (ipdma.survival.weibull_survival / weibull_rmst)
  function weibullSurv(t, mu, sc) { return t > 0 ? Math.exp(-Math.exp((Math.log(t) - mu) / sc)) : 1.0; }
  function weibullRmst(tau, mu, sc) {
    var lam = Math.exp(mu), U = Math.exp((Math.log(tau) - mu) / sc);
    return lam * gammaFn(1.0 + sc) * gammaP(sc, U);
  }

  // ------------------------------------------------------------------ inputs
  function fmtRange(inp) {
    return "[" + inp.min + ", " + inp.max + "]" + (inp.unit ? " " + inp.unit : "");
  }
  // raw: {name: string}; returns {values, errors, warnings}
  function readInputs(raw) {
    var values = {}, errors = [], warnings = [];
    SPEC.inputs.forEach(function (inp) {
      var r = raw[inp.name];
      var s = r === undefined || r === null ? "" : String(r).trim();
      if (s === "") { errors.push({input: inp.name, message: inp.label + ": missing value; enter one to get a prediction."}); return; }
      if (inp.type === "categorical") {
        if (inp.levels.indexOf(s) < 0) {
          errors.push({input: inp.name, message: inp.label + ": '" + s + "' is not an allowed value (" + inp.levels.join(", ") + ")."});
          return;
        }
        values[inp.name] = s;
        return;
      }
      var v = Number(s);
      if (!isFinite(v)) { errors.push({input: inp.name, message: inp.label + ": '" + s + "' is not a number."}); return; }
      if (inp.allowed && inp.allowed.indexOf(v) < 0) {
        errors.push({input: inp.name, message: inp.label + ": " + s + " is not an allowed value (" + inp.allowed.join(", ") + ")."});
        return;
      }
      if (inp.bounds && (v <= inp.bounds[0] || v >= inp.bounds[1])) {
        errors.push({input: inp.name, message: inp.label + ": must lie strictly between " + inp.bounds[0] + " and " + inp.bounds[1] + "."});
        return;
      }
      if (inp.min !== undefined && inp.min !== null && (v < inp.min || v > inp.max)) {
        warnings.push({input: inp.name, message: inp.label + ": " + s + " lies outside the development data range " + fmtRange(inp) + "; the prediction is an extrapolation."});
      }
      values[inp.name] = v;
    });
    return {values: values, errors: errors, warnings: warnings};
  }
  function features(fs, values) {
    return fs.map(function (f) {
      if (f.kind === "indicator") return values[f.input] === f.level ? 1.0 : 0.0;
      return values[f.input];
    });
  }
  function riskScore(rm, values) {          // RiskModel.predict_logit: intercept + X @ beta
    var x = features(rm.features, values);
    return rm.intercept + dot(x, rm.coef);
  }

  // ------------------------------------------------------------------ model kinds
  var cache = {};
  function draws(m) {
    if (!cache.draws) {
      var flat = decodeF64(m.draws.data), S = m.draws.n, C = m.draws.columns.length, cols = [];
      for (var c = 0; c < C; c++) cols.push(flat.subarray(c * S, (c + 1) * S));
      cache.draws = cols;
    }
    return cache.draws;
  }

  // risk-based NMR: lp_k = base + d_k + x (g0 + gamma_k); columns base, g0, d[1..], gamma[1..]
  function evalRiskNMR(values) {
    if (SPEC.family === "survival") return evalSurvNMR(values);
    var m = SPEC.model, T = SPEC.treatments.length, out = {};
    var r, p0;
    if (m.stage1) { r = riskScore(m.stage1, values); p0 = expitTanh(r); }
    else { p0 = values[m.risk_input]; r = logit(p0); }
    var x = 0.0;
    if (m.has_risk) { var xv = m.risk_scale === "logit" ? r : p0; x = (xv - m.centre_pred) + m.x_shift; }
    var sign = SPEC.higher_is_better ? 1.0 : -1.0, z = SPEC.constants.z, a = SPEC.constants.alpha_half;
    var keys = ["prob", "prob_lower", "prob_upper", "ard", "ard_lower", "ard_upper", "or", "or_lower", "or_upper", "p_best"];
    keys.forEach(function (k) { out[k] = new Array(T).fill(0); });
    var D = draws(m), S = m.draws.n, counts = new Array(T).fill(0), lp = [], pr = [];
    if (m.engine === "bayes") {
      var base = D[0], g0 = D[1];
      for (var k = 0; k < T; k++) {
        var l = new Float64Array(S), p = new Float64Array(S);
        for (var s = 0; s < S; s++) {
          var v = k === 0 ? base[s] + x * g0[s] : ((base[s] + D[1 + k][s]) + x * g0[s]) + x * D[T + k][s];
          l[s] = v; p[s] = expitTanh(v);
        }
        lp.push(l); pr.push(p);
      }
      for (var s2 = 0; s2 < S; s2++) {
        var b = 0;
        for (var k2 = 1; k2 < T; k2++) if (sign * pr[k2][s2] > sign * pr[b][s2]) b = k2;
        counts[b]++;
      }
    } else {
      // ML: the draws only give P(best); the common part of the log-odds (baseline,
      // prognostic slope) does not change which treatment is best, so only the columns
      // d[k], gamma[k] are exported: best = argmax sign (d_k + x gamma_k), reference 0
      for (var s4 = 0; s4 < S; s4++) {
        var b2 = 0, bv = 0;
        for (var k9 = 1; k9 < T; k9++) {
          var w = sign * (D[k9 - 1][s4] + x * D[T - 2 + k9][s4]);
          if (w > bv) { bv = w; b2 = k9; }
        }
        counts[b2]++;
      }
    }
    for (var k3 = 0; k3 < T; k3++) out.p_best[k3] = counts[k3] / S;
    if (m.engine === "bayes") {
      var pm = [];
      for (var k4 = 0; k4 < T; k4++) pm.push(m.point === "logit_mean" ? expitTanh(mean(lp[k4])) : mean(pr[k4]));
      for (var k5 = 0; k5 < T; k5++) {
        var ard = new Float64Array(S), orr = new Float64Array(S), lor = new Float64Array(S);
        for (var s3 = 0; s3 < S; s3++) { ard[s3] = pr[0][s3] - pr[k5][s3]; lor[s3] = lp[k5][s3] - lp[0][s3]; orr[s3] = Math.exp(lor[s3]); }
        out.prob[k5] = pm[k5];
        out.ard[k5] = m.point === "logit_mean" ? pm[0] - pm[k5] : mean(ard);
        out.or[k5] = Math.exp(mean(lor));
        var qp = quantiles(pr[k5], [a, 1 - a]), qa = quantiles(ard, [a, 1 - a]), qo = quantiles(orr, [a, 1 - a]);
        out.prob_lower[k5] = qp[0]; out.prob_upper[k5] = qp[1];
        out.ard_lower[k5] = qa[0]; out.ard_upper[k5] = qa[1];
        out.or_lower[k5] = qo[0]; out.or_upper[k5] = qo[1];
      }
    } else {                         // Wald intervals from the reduced estimate and covariance
      var th = m.estimate, V = m.vcov, P = th.length, M = [];
      for (var k6 = 0; k6 < T; k6++) {
        var row = new Array(P).fill(0); row[0] = 1.0;
        if (m.has_risk) row[1] = x;
        if (k6 > 0) { row[1 + k6] = 1.0; if (m.has_risk) row[T + k6] = x; }
        M.push(row);
      }
      var prw = [];
      for (var k7 = 0; k7 < T; k7++) {
        var l7 = dot(M[k7], th), se = Math.sqrt(Math.max(quad(M[k7], V), 0));
        prw.push(expitTanh(l7));
        out.prob[k7] = prw[k7];
        out.prob_lower[k7] = expitTanh(l7 - z * se); out.prob_upper[k7] = expitTanh(l7 + z * se);
      }
      for (var k8 = 0; k8 < T; k8++) {
        var Dm = M[k8].map(function (v, i) { return v - M[0][i]; });
        var lorv = dot(Dm, th), selor = Math.sqrt(Math.max(quad(Dm, V), 0));
        out.or[k8] = Math.exp(lorv); out.or_lower[k8] = Math.exp(lorv - z * selor); out.or_upper[k8] = Math.exp(lorv + z * selor);
        var w0 = prw[0] * (1 - prw[0]), wk = prw[k8] * (1 - prw[k8]);
        var g = M[0].map(function (v, i) { return w0 * v - wk * M[k8][i]; });
        var seard = Math.sqrt(Math.max(quad(g, V), 0)), ardv = prw[0] - prw[k8];
        out.ard[k8] = ardv; out.ard_lower[k8] = ardv - z * seard; out.ard_upper[k8] = ardv + z * seard;
      }
    }
    var rec = argmaxFirst(out.prob.map(function (v) { return sign * v; }));
    return {kind: "risk-nmr", baseline_risk: p0, logit_risk: r, rows: SPEC.treatments.slice(),
            columns: out, recommended: SPEC.treatments[rec],
            plot: {x: p0, y: out.ard.slice()}};
  }

  // survival risk-based NMR (ML engine): lp_k = M_k theta with M_k = (e_k, x, e_k x)
  // over the parameters (d[1..], g0, gamma[1..]); Breslow (Cox) or Weibull baseline
  function f64(m, key) { var c = "_" + key; if (!m[c]) m[c] = decodeF64(m[key]); return m[c]; }
  function survRows(T, P, x, hasRisk) {
    var M = [];
    for (var k = 0; k < T; k++) {
      var row = new Array(P).fill(0);
      if (k > 0) row[k - 1] = 1.0;
      if (hasRisk) { row[T - 1] += x; if (k > 0) row[T - 1 + k] += x; }
      M.push(row);
    }
    return M;
  }
  function matvec(V, g) { return V.map(function (r) { return dot(r, g); }); }
  function evalSurvNMR(values) {
    if (SPEC.model.engine === "bayes") return evalSurvNMRBayes(values);
    var m = SPEC.model, T = SPEC.treatments.length, th = m.estimate, V = m.vcov, P = th.length;
    var z = SPEC.constants.z, out = {}, r;
    if (m.stage1) r = riskScore(m.stage1, values); else r = values[m.risk_input];
    var x = m.has_risk ? r - m.centre : 0.0, M = survRows(T, P, x, m.has_risk);
    var keys = ["surv", "surv_lower", "surv_upper", "surv_se", "surv_diff", "surv_diff_lower", "surv_diff_upper",
                "rmst", "rmst_lower", "rmst_upper", "rmst_diff", "rmst_diff_lower", "rmst_diff_upper",
                "hr", "hr_lower", "hr_upper", "p_best"];
    keys.forEach(function (k) { out[k] = new Array(T).fill(null); });
    function interval(key, k, est, v) {
      var se = Math.sqrt(Math.max(v, 0)); out[key][k] = est; out[key + "_lower"][k] = est - z * se; out[key + "_upper"][k] = est + z * se;
    }
    var lp = M.map(function (row) { return dot(row, th); }), elp = lp.map(Math.exp), S = [];
    if (m.survival_model === "cox") {
      var Hb = m.Hb, Ab = m.Ab, Vb = m.Vb, gH = [], gS = [];
      for (var k = 0; k < T; k++) {
        var H = Hb * elp[k], Sk = Math.exp(-H); S.push(Sk);
        var g = M[k].map(function (v, i) { return Hb * v - Ab[i]; }); gH.push(g);
        var varH = elp[k] * elp[k] * (quad(g, V) + Vb), sl = H > 0 ? Math.sqrt(Math.max(varH, 0)) / H : 0.0;
        out.surv[k] = Sk; out.surv_lower[k] = Math.exp(-H * Math.exp(z * sl)); out.surv_upper[k] = Math.exp(-H * Math.exp(-z * sl));
        out.surv_se[k] = Sk * Math.sqrt(Math.max(varH, 0));
        gS.push(g.map(function (v) { return -(Sk * elp[k]) * v; }));
      }
      for (var k2 = 0; k2 < T; k2++) {
        var gD = gS[k2].map(function (v, i) { return v - gS[0][i]; });
        var cD = -(S[k2] * elp[k2]) - -(S[0] * elp[0]);
        interval("surv_diff", k2, S[k2] - S[0], quad(gD, V) + cD * cD * Vb);
      }
      // RMST: step survival on 0, u_1.., u_m (<= tau), weights w
      var w = f64(m, "w"), Hp = f64(m, "Hp"), Ap = f64(m, "Ap"), vk = f64(m, "vk"), n = m.m;
      var rm = [], gR = [], cc = [];
      for (var k3 = 0; k3 < T; k3++) {
        var wS = new Float64Array(n), tot = 0, a = 0, Bm = new Array(P).fill(0);
        for (var i = 0; i < n; i++) { wS[i] = w[i] * Math.exp(-Hp[i] * elp[k3]); tot += wS[i]; a += wS[i] * Hp[i]; }
        for (var i2 = 0; i2 < n; i2++) for (var p = 0; p < P; p++) Bm[p] += wS[i2] * Ap[i2 * P + p];
        rm.push(tot);
        gR.push(M[k3].map(function (v, j) { return -elp[k3] * (a * v - Bm[j]); }));
        var c = new Float64Array(n - 1), acc = 0;
        for (var i3 = n - 1; i3 >= 1; i3--) { acc += wS[i3]; c[i3 - 1] = -elp[k3] * acc; }
        cc.push(c);
      }
      for (var k4 = 0; k4 < T; k4++) {
        var s1 = 0, s2 = 0;
        for (var i4 = 0; i4 < n - 1; i4++) { s1 += cc[k4][i4] * cc[k4][i4] * vk[i4]; var dc = cc[k4][i4] - cc[0][i4]; s2 += dc * dc * vk[i4]; }
        interval("rmst", k4, rm[k4], quad(gR[k4], V) + s1);
        var gRD = gR[k4].map(function (v, j) { return v - gR[0][j]; });
        interval("rmst_diff", k4, rm[k4] - rm[0], quad(gRD, V) + s2);
      }
    } else {                       // Weibull PH: central differences over (mu, aft, log scale)
      var J = m.n_trials, phi = m.aft.concat([m.log_scale]), np_ = phi.length, h0 = m.horizon;
      var outputs = function (ph) {
        var mu0 = 0; for (var j = 0; j < J; j++) mu0 += m.mu_weights[j] * ph[j];
        var sc = Math.exp(ph[np_ - 1]), res = [], rm = [];
        for (var k = 0; k < T; k++) {
          var mu = mu0; for (var q = 0; q < P; q++) mu += M[k][q] * ph[J + q];
          res.push(weibullSurv(h0, mu, sc));
          if (m.rmst) rm.push(weibullRmst(m.tau, mu, sc));
        }
        var all = res.concat(res.map(function (v) { return v - res[0]; }));
        return m.rmst ? all.concat(rm, rm.map(function (v) { return v - rm[0]; })) : all;
      };
      var base = outputs(phi), Jac = base.map(function () { return new Array(np_).fill(0); });
      for (var kk = 0; kk < np_; kk++) {
        var hh = 1e-6 * Math.max(1.0, Math.abs(phi[kk])), up = phi.slice(), dn = phi.slice();
        up[kk] = phi[kk] + hh; dn[kk] = phi[kk] - hh;
        var fu = outputs(up), fd = outputs(dn);
        for (var o = 0; o < base.length; o++) Jac[o][kk] = (fu[o] - fd[o]) / (2 * hh);
      }
      for (var k5 = 0; k5 < T; k5++) {
        var Sv = base[k5], vS = quad(Jac[k5], m.aft_vcov), Hh = -Math.log(Math.min(Math.max(Sv, 1e-300), 1.0));
        var sl2 = Hh > 0 ? Math.sqrt(Math.max(vS, 0)) / (Sv * Hh) : 0.0;
        S.push(Sv); out.surv[k5] = Sv; out.surv_se[k5] = Math.sqrt(Math.max(vS, 0));
        out.surv_lower[k5] = Math.exp(-Hh * Math.exp(z * sl2)); out.surv_upper[k5] = Math.exp(-Hh * Math.exp(-z * sl2));
        interval("surv_diff", k5, base[T + k5], quad(Jac[T + k5], m.aft_vcov));
        if (m.rmst) {          // Weibull RMST (incomplete gamma), same central differences
          interval("rmst", k5, base[2 * T + k5], quad(Jac[2 * T + k5], m.aft_vcov));
          interval("rmst_diff", k5, base[3 * T + k5], quad(Jac[3 * T + k5], m.aft_vcov));
        }
      }
    }
    for (var k6 = 0; k6 < T; k6++) {
      var Dm = M[k6].map(function (v, i) { return v - M[0][i]; }), lhr = dot(Dm, th), se = Math.sqrt(Math.max(quad(Dm, V), 0));
      out.hr[k6] = Math.exp(lhr); out.hr_lower[k6] = Math.exp(lhr - z * se); out.hr_upper[k6] = Math.exp(lhr + z * se);
    }
    // P(best): lowest hazard (highest survival) per draw of the estimates
    // (the draws hold d[k] and gamma[k] only: the prognostic term g0 x is common to all
    // treatments and does not change which is best; reference = 0)
    var D = draws(m), Sd = m.draws.n, sign = SPEC.higher_is_better ? 1.0 : -1.0, counts = new Array(T).fill(0);
    for (var s = 0; s < Sd; s++) {
      var b = 0, bv = 0;
      for (var k7 = 1; k7 < T; k7++) {
        var l = sign * (m.has_risk ? D[k7 - 1][s] + x * D[T - 2 + k7][s] : D[k7 - 1][s]);
        if (l > bv) { bv = l; b = k7; }
      }
      counts[b]++;
    }
    for (var k8 = 0; k8 < T; k8++) out.p_best[k8] = counts[k8] / Sd;
    var best = 0;
    for (var k9 = 1; k9 < T; k9++) if (SPEC.higher_is_better ? S[k9] < S[best] : S[k9] > S[best]) best = k9;
    return {kind: "risk-nmr", baseline_risk: 1.0 - S[0], risk_score: r, rows: SPEC.treatments.slice(),
            columns: out, recommended: SPEC.treatments[best], plot: {x: r, y: out.surv_diff.slice()}};
  }

  // two-stage ITE, pooled coefficients (mvma): continuous ITE = (1, x) theta; binary from the
  // full (1, t, x, t x) coefficient vector
  function evalITELinear(values) {
    var m = SPEC.model, x = features(m.features, values), z = SPEC.constants.z, out = {};
    var ite, se, sePred = null, p0 = null, p1 = null;
    if (SPEC.family === "survival") return evalITESurvival(values, x);
    if (SPEC.family === "continuous") {
      var c = [1.0].concat(x);
      ite = dot(c, m.coef); var v = quad(c, m.vcov); se = Math.sqrt(v);
      if (m.Psi) sePred = Math.sqrt(v + quad(c, m.Psi));
    } else {
      var p = x.length, z0 = [1.0, 0.0].concat(x, new Array(p).fill(0.0)), z1 = [1.0, 1.0].concat(x, x);
      var e0 = dot(z0, m.coef), e1 = dot(z1, m.coef);
      p0 = expitExp(e0); p1 = expitExp(e1);
      var d0, d1;
      if (m.scale === "rd") { ite = p1 - p0; d0 = -(p0 * (1 - p0)); d1 = p1 * (1 - p1); }
      else { ite = e1 - e0; d0 = -1.0; d1 = 1.0; }
      var G = z0.map(function (v0, i) { return d0 * v0 + d1 * z1[i]; });
      se = Math.sqrt(Math.max(quad(G, m.vcov), 0.0));
      if (m.Psi) {
        var VP = m.vcov.map(function (r, i) { return r.map(function (v2, j) { return v2 + m.Psi[i][j]; }); });
        sePred = Math.sqrt(Math.max(quad(G, VP), 0.0));
      }
    }
    out.ite = [ite]; out.se = [se]; out.ci_low = [ite - z * se]; out.ci_high = [ite + z * se];
    if (sePred !== null) { var q = SPEC.constants.q_pi; out.pi_low = [ite - q * sePred]; out.pi_high = [ite + q * sePred]; }
    if (p0 !== null) { out.p0 = [p0]; out.p1 = [p1]; }
    var better = SPEC.higher_is_better ? ite > 0 : ite < 0;
    return {kind: "ite-linear", rows: [SPEC.treatments[1] + " vs " + SPEC.treatments[0]], columns: out,
            recommended: SPEC.treatments[better ? 1 : 0],
            plot: {x: p0 !== null ? p0 : values[SPEC.plot.x_input], y: [ite]}};
  }

  // two-stage ITE on a treatment network (mvma): basic contrasts vs the reference
  // mean_k = c' coef_k, cov = C V C', c = (1, x); P(best) with the exported normal draws
  // in the canonical basis, as the model's seeded predict
  function cholesky(A) {
    var n = A.length, L = A.map(function () { return new Array(n).fill(0); });
    for (var j = 0; j < n; j++) {
      var s = A[j][j]; for (var k = 0; k < j; k++) s -= L[j][k] * L[j][k];
      L[j][j] = Math.sqrt(s);
      for (var i = j + 1; i < n; i++) { var t = A[i][j]; for (var k2 = 0; k2 < j; k2++) t -= L[i][k2] * L[j][k2]; L[i][j] = t / L[j][j]; }
    }
    return L;
  }
  function evalITENetwork(values) {
    var m = SPEC.model, x = features(m.features, values), c = [1.0].concat(x), q = c.length;
    var T = SPEC.treatments.length, T1 = T - 1, z = SPEC.constants.z, mean = [], cov = [];
    var extra = null, wres = null;
    if (m.trials) {                  // weighted poolers: see evalNetworkWeighted below
      wres = evalNetworkWeighted(m, c, T1); mean = wres.mean; cov = wres.cov;
      if (m.tau2) extra = wres.tau2;
    } else {
    for (var a = 0; a < T1; a++) mean.push(dot(c, m.coef[a]));
    for (var a2 = 0; a2 < T1; a2++) {
      var row = [];
      for (var b = 0; b < T1; b++) {
        var s = 0;
        for (var i = 0; i < q; i++) { var r = 0; for (var j = 0; j < q; j++) r += m.vcov[a2 * q + i][b * q + j] * c[j]; s += c[i] * r; }
        row.push(s);
      }
      cov.push(row);
    }
    if (m.tau2) { extra = 0; for (var i2 = 0; i2 < q; i2++) extra += c[i2] * c[i2] * m.tau2[i2]; }
    }
    var keys = ["ite", "se", "ci_low", "ci_high", "pi_low", "pi_high", "p_best"], out = {};
    keys.forEach(function (k) { out[k] = new Array(T).fill(null); });
    for (var k = 1; k < T; k++) {
      var est = mean[k - 1], se = Math.sqrt(Math.max(cov[k - 1][k - 1], 0));
      out.ite[k] = est; out.se[k] = se; out.ci_low[k] = est - z * se; out.ci_high[k] = est + z * se;
      if (extra !== null) { var qp = SPEC.constants.q_pi || z, ps = Math.sqrt(se * se + extra); out.pi_low[k] = est - qp * ps; out.pi_high[k] = est + qp * ps; }
    }
    if (extra === null) { delete out.pi_low; delete out.pi_high; }
    var sign = SPEC.higher_is_better ? 1.0 : -1.0, best = 0, bv = 0;
    for (var k2 = 1; k2 < T; k2++) if (sign * mean[k2 - 1] > bv) { bv = sign * mean[k2 - 1]; best = k2; }
    // P(best): canonical mean / covariance, Cholesky of cov + 1e-15 I, draws mean + z L'
    var G = m.pbest.canon_map, cm = G.map(function (g) { return dot(g, mean); }), cc = [];
    for (var u = 0; u < T1; u++) {
      var rr = [];
      for (var v = 0; v < T1; v++) { var s2 = 0; for (var a3 = 0; a3 < T1; a3++) for (var b3 = 0; b3 < T1; b3++) s2 += G[u][a3] * cov[a3][b3] * G[v][b3]; rr.push(s2 + (u === v ? 1e-15 : 0)); }
      cc.push(rr);
    }
    var L = cholesky(cc), Z = f64(m.pbest, "z"), S = m.pbest.n, counts = new Array(T).fill(0);
    for (var sd = 0; sd < S; sd++) {
      var top = 0, mx = -Infinity;
      for (var u2 = 0; u2 < T1; u2++) {
        var d = cm[u2]; for (var w = 0; w <= u2; w++) d += Z[sd * T1 + w] * L[u2][w];
        d *= sign; if (d > mx) { mx = d; top = u2 + 1; }
      }
      counts[mx > 0 ? top : 0]++;
    }
    for (var k3 = 0; k3 < T; k3++) out.p_best[k3] = counts[m.pbest.canon_index[k3]] / S;
    var res = {kind: "ite-network", rows: SPEC.treatments.slice(), columns: out,
               recommended: SPEC.treatments[best],
               plot: {x: values[SPEC.plot.x_input], y: mean.slice()}};
    if (wres) { res.tau2 = extra; res.Q = wres.Q; res.per_trial = wres.per_trial; }
    return res;
  }

  // ------------------------------------------------------------------ network, weighted poolers
  // (pooler weighted-aux-ols / weighted-bootstrap on a treatment network; repeats
  // ipdma.ite._network_ite.network_gls).  Per trial: contrasts vs its own reference arm
  // (c' theta_k, or expit(c' b1_k) - expit(c' b0_k) on the risk-difference scale), their
  // covariance (c' S_kj c, or the auxiliary logistic model's delta method), design rows D
  // onto the basic contrasts; per-patient GLS, common effect or generalised
  // DerSimonian-Laird tau^2 with the consistency structure (tau^2 per contrast, tau^2/2
  // between the contrasts of one trial).
  function netMatVec(V, g) { return V.map(function (r) { return dot(r, g); }); }
  function netMatInv(A) {           // Gauss-Jordan with partial pivoting (small matrices)
    var n = A.length, M = A.map(function (r, i) { var e = new Array(n).fill(0); e[i] = 1; return r.slice().concat(e); });
    for (var j = 0; j < n; j++) {
      var piv = j;
      for (var i = j + 1; i < n; i++) if (Math.abs(M[i][j]) > Math.abs(M[piv][j])) piv = i;
      var tmp = M[j]; M[j] = M[piv]; M[piv] = tmp;
      var d = M[j][j];
      for (var k = 0; k < 2 * n; k++) M[j][k] /= d;
      for (var i2 = 0; i2 < n; i2++) {
        if (i2 === j) continue;
        var f = M[i2][j];
        if (f !== 0) for (var k2 = 0; k2 < 2 * n; k2++) M[i2][k2] -= f * M[j][k2];
      }
    }
    return M.map(function (r) { return r.slice(n); });
  }
  function netMat(o) {             // packed float64 matrix -> nested arrays (decoded once)
    if (!o._m) {
      var v = decodeF64(o.f64 !== undefined ? o.f64 : o.sym), M = [];
      if (o.f64 !== undefined) {
        for (var i = 0; i < o.shape[0]; i++) M.push(Array.from(v.subarray(i * o.shape[1], (i + 1) * o.shape[1])));
      } else {                     // upper triangle, row by row
        var n = o.n, pos = 0;
        for (var i2 = 0; i2 < n; i2++) M.push(new Array(n));
        for (var a = 0; a < n; a++) for (var b = a; b < n; b++) { M[a][b] = v[pos]; M[b][a] = v[pos]; pos++; }
      }
      o._m = M;
    }
    return o._m;
  }
  function netTrialContrasts(tr, c) {
    var e = tr.est, m1 = tr.D.length, q = c.length, est, C = [];
    if (e.theta) est = netMat(e.theta).map(function (th) { return dot(c, th); });
    else if (e.trees) {            // native XGBoost S-learner: features (arm dummies, x), float32
      var tt = xgbTrees(e.trees), x = c.slice(1), fz = new Array(m1).fill(0.0).concat(x).map(Math.fround);
      var f0 = xgbPredict(tt, fz);
      est = [];
      for (var kk = 0; kk < m1; kk++) { var fk = fz.slice(); fk[kk] = 1.0; est.push(Math.fround(xgbPredict(tt, fk) - f0)); }
    } else { var B1 = netMat(e.b1); est = netMat(e.b0).map(function (b0, k) { return expitExp(dot(c, B1[k])) - expitExp(dot(c, b0)); }); }
    if (tr.cov.S) {
      var S = netMat(tr.cov.S);
      for (var a = 0; a < m1; a++) {
        var row = [];
        for (var b = 0; b < m1; b++) {
          var s = 0;
          for (var i = 0; i < q; i++) { var r = 0; for (var j = 0; j < q; j++) r += S[a * q + i][b * q + j] * c[j]; s += c[i] * r; }
          row.push(s);
        }
        C.push(row);
      }
    } else {                       // auxiliary logistic model, risk-difference scale
      var coef = netMat(tr.cov.coef)[0], V = netMat(tr.cov.vcov), p = tr.cov.p, P = coef.length;
      var Zr = c.concat(new Array(P - q).fill(0)), pr = expitExp(dot(Zr, coef)), G = [];
      for (var k = 0; k < m1; k++) {
        var Zk = Zr.slice(); Zk[1 + p + k] = 1.0;
        for (var jj = 0; jj < p; jj++) Zk[1 + p + m1 + k * p + jj] = c[1 + jj];
        var pk = expitExp(dot(Zk, coef)), wk = pk * (1 - pk), wr = pr * (1 - pr);
        G.push(Zk.map(function (v, i3) { return wk * v - wr * Zr[i3]; }));
      }
      for (var a2 = 0; a2 < m1; a2++) { var row2 = []; for (var b2 = 0; b2 < m1; b2++) row2.push(dot(G[a2], netMatVec(V, G[b2]))); C.push(row2); }
    }
    return {est: est, cov: C};
  }
  function evalNetworkWeighted(m, c, T1) {
    var parts = m.trials.map(function (tr) { return netTrialContrasts(tr, c); });
    function consS(m1) { var S = []; for (var i = 0; i < m1; i++) { var r = []; for (var j = 0; j < m1; j++) r.push(i === j ? 1.0 : 0.5); S.push(r); } return S; }
    function gls(extra) {
      var info = [], score = new Array(T1).fill(0), Ws = [];
      for (var a = 0; a < T1; a++) info.push(new Array(T1).fill(0));
      m.trials.forEach(function (tr, l) {
        var D = tr.D, m1 = D.length, C = parts[l].cov, e = parts[l].est, S = consS(m1);
        var W = netMatInv(C.map(function (r, i) { return r.map(function (v, j) { return v + extra * S[i][j]; }); }));
        Ws.push(W);
        for (var a2 = 0; a2 < T1; a2++) {
          for (var b = 0; b < T1; b++) { var s = 0; for (var k = 0; k < m1; k++) for (var k2 = 0; k2 < m1; k2++) s += D[k][a2] * W[k][k2] * D[k2][b]; info[a2][b] += s; }
          var s2 = 0; for (var k3 = 0; k3 < m1; k3++) for (var k4 = 0; k4 < m1; k4++) s2 += D[k3][a2] * W[k3][k4] * e[k4];
          score[a2] += s2;
        }
      });
      var covb = netMatInv(info);
      return {mean: netMatVec(covb, score), cov: covb, Ws: Ws};
    }
    var g = gls(0.0), Q = 0, nObs = 0;
    m.trials.forEach(function (tr, l) {
      var D = tr.D, m1 = D.length, e = parts[l].est, W = g.Ws[l];
      var r = e.map(function (v, k) { return v - dot(D[k], g.mean); });
      Q += dot(r, netMatVec(W, r)); nObs += m1;
    });
    var tau2 = 0.0;
    if (m.pooling.heterogeneity !== "fixed") {
      var trWS = 0, A = [];
      for (var a = 0; a < T1; a++) A.push(new Array(T1).fill(0));
      m.trials.forEach(function (tr, l) {
        var D = tr.D, m1 = D.length, W = g.Ws[l], S = consS(m1), WS = [];
        for (var k = 0; k < m1; k++) { var row = []; for (var mm = 0; mm < m1; mm++) { var s = 0; for (var ll = 0; ll < m1; ll++) s += W[k][ll] * S[ll][mm]; row.push(s); } WS.push(row); trWS += row[k]; }
        // A += D' (W S) W D
        var WSW = WS.map(function (row) { var o = []; for (var ll = 0; ll < m1; ll++) { var s = 0; for (var mm = 0; mm < m1; mm++) s += row[mm] * W[mm][ll]; o.push(s); } return o; });
        for (var a2 = 0; a2 < T1; a2++) for (var b = 0; b < T1; b++) { var s2 = 0; for (var k2 = 0; k2 < m1; k2++) for (var l2 = 0; l2 < m1; l2++) s2 += D[k2][a2] * WSW[k2][l2] * D[l2][b]; A[a2][b] += s2; }
      });
      var trCA = 0;
      for (var a3 = 0; a3 < T1; a3++) for (var b3 = 0; b3 < T1; b3++) trCA += g.cov[a3][b3] * A[b3][a3];
      var trPS = trWS - trCA;
      tau2 = trPS > 0 ? Math.max(0.0, (Q - (nObs - T1)) / trPS) : 0.0;
      g = gls(tau2);
    }
    return {mean: g.mean, cov: g.cov, tau2: tau2, Q: Q,
            per_trial: parts.map(function (pt) { return pt.est; })};
  }

  // two-stage ITE, time to event (mvma): pooled log HR c' theta applied to every trial's
  // control-arm prediction (its linear predictor and baseline), averaged over trials
  function evalITESurvival(values, x) {
    var m = SPEC.model, z = SPEC.constants.z, c = [1.0].concat(x), K = m.trials.length;
    var lhr = dot(c, m.coef), v = quad(c, m.vcov), pv = m.Psi ? v + quad(c, m.Psi) : null;
    function arm(tr, eta) {
      var e = Math.exp(eta);
      if (m.scale === "survdiff") return Math.exp(-tr.H * e);
      if (tr.shape !== undefined) return weibullArmRmst(tr, e, false);
      var Hs = f64(tr, "Hs"), wd = f64(tr, "width"), s = 0;
      for (var i = 0; i < Hs.length; i++) s += Math.exp(-(e * Hs[i])) * wd[i];
      return s;
    }
    function darm(tr, eta) {
      var e = Math.exp(eta);
      if (m.scale === "survdiff") return -tr.H * e * Math.exp(-tr.H * e);
      if (tr.shape !== undefined) return weibullArmRmst(tr, e, true);
      var Hs = f64(tr, "Hs"), wd = f64(tr, "width"), s = 0;
      for (var i = 0; i < Hs.length; i++) { var eH = e * Hs[i]; s += (eH * Math.exp(-eH)) * wd[i]; }
      return -s;
    }
    var ite, deriv, p0 = null, p1 = null, per = [];
    if (m.scale === "loghr") {
      ite = lhr; deriv = 1.0;
      m.trials.forEach(function (tr) { per.push(dot(c, tr.coef)); });
    } else {
      var s0 = 0, s1 = 0, sd = 0;
      m.trials.forEach(function (tr) {
        var eta0 = dot(c, tr.eta0_coef), a0 = arm(tr, eta0);
        s0 += a0; s1 += arm(tr, eta0 + lhr); sd += darm(tr, eta0 + lhr);
        per.push(arm(tr, eta0 + dot(c, tr.coef)) - a0);
      });
      p0 = s0 / K; p1 = s1 / K; ite = p1 - p0; deriv = sd / K;
    }
    var se = Math.abs(deriv) * Math.sqrt(v), out = {ite: [ite], se: [se], ci_low: [ite - z * se], ci_high: [ite + z * se], per_trial: per};
    if (pv !== null) { var q = SPEC.constants.q_pi, sp = Math.abs(deriv) * Math.sqrt(pv); out.pi_low = [ite - q * sp]; out.pi_high = [ite + q * sp]; }
    if (p0 !== null) { out.p0 = [p0]; out.p1 = [p1]; }
    var better = SPEC.higher_is_better ? ite > 0 : ite < 0;
    return {kind: "ite-linear", rows: [SPEC.treatments[1] + " vs " + SPEC.treatments[0]], columns: out,
            recommended: SPEC.treatments[better ? 1 : 0], plot: {x: values[SPEC.plot.x_input], y: [ite]}};
  }

  // XGBoost tree ensemble as XGBoost predicts it: float32 features, "value < split" goes
  // left (missing: the default direction), leaf values summed in float32 in tree order
  function bytes(x) { return raw(x).buffer; }
  function xgbTrees(t) {          // decoded once per trial
    if (!t._decoded) {
      var n = t.n_nodes, step = t.step_bytes === 2 ? new Int16Array(bytes(t.left_step)) : new Int32Array(bytes(t.left_step));
      var left = new Int32Array(n), right = new Int32Array(n);
      for (var i = 0; i < n; i++) left[i] = step[i] === 0 ? -1 : i + step[i];
      if (t.right) right = new Int32Array(bytes(t.right));
      else for (var j = 0; j < n; j++) right[j] = left[j] >= 0 ? left[j] + 1 : -1;
      t._decoded = {base: t.base, roots: new Int32Array(bytes(t.roots)), left: left, right: right,
                    feature: t.feature_bytes === 1 ? new Uint8Array(bytes(t.feature)) : new Uint16Array(bytes(t.feature)),
                    value: new Float32Array(bytes(t.value)),
                    default_left: t.default_left ? new Uint8Array(bytes(t.default_left)) : new Uint8Array(n)};
    }
    return t._decoded;
  }
  function xgbPredict(tr, f) {
    var s = Math.fround(tr.base);
    for (var k = 0; k < tr.roots.length; k++) {
      var n = tr.roots[k];
      while (tr.left[n] >= 0) {
        var v = f[tr.feature[n]];
        n = (v !== v ? tr.default_left[n] === 1 : v < tr.value[n]) ? tr.left[n] : tr.right[n];
      }
      s = Math.fround(s + tr.value[n]);
    }
    return s;
  }

  // two-stage ITE, pooler weighted-aux-ols with fixed weights: per trial the learner's ITE
  // (linear coefficients, or XGBoost S-learner f(1, x) - f(0, x) in float32) and the
  // auxiliary OLS variance c' V c, c = (1, x); inverse-variance weighted average
  function evalITEWeighted(values) {
    var m = SPEC.model, x = features(m.features, values), z = SPEC.constants.z;
    var c = [1.0].concat(x), f1 = [1.0].concat(x).map(Math.fround), f0 = [0.0].concat(x).map(Math.fround);
    var Y = [], W = [];
    m.trials.forEach(function (tr) {
      var ite = tr.learner === "xgboost"
        ? Math.fround(xgbPredict(xgbTrees(tr.trees), f1) - xgbPredict(xgbTrees(tr.trees), f0))
        : dot(c, tr.theta);
      Y.push(ite); W.push(1.0 / quad(c, tr.aux_vcov));
    });
    var sw = 0, swy = 0;
    for (var l = 0; l < Y.length; l++) { sw += W[l]; swy += W[l] * Y[l]; }
    var est = swy / sw, se = Math.sqrt(1.0 / sw);
    var better = SPEC.higher_is_better ? est > 0 : est < 0;
    return {kind: "ite-weighted", rows: [SPEC.treatments[1] + " vs " + SPEC.treatments[0]],
            columns: {ite: [est], se: [se], ci_low: [est - z * se], ci_high: [est + z * se],
                      per_trial: Y},
            recommended: SPEC.treatments[better ? 1 : 0],
            plot: {x: values[SPEC.plot.x_input], y: [est]}};
  }

  // subgroup trees: route by the split rules to the terminal node, read its effect
  function evalTree(values) {
    var m = SPEC.model, node = m.nodes[String(m.root)], path = [];
    while (node.split) {
      var sp = node.split, v = values[sp.variable], kid;
      if (sp.kind === "numeric") kid = v <= sp.breaks ? 0 : 1;
      else {
        var code = sp.levels.indexOf(v);
        if (sp.kind === "ordered") kid = code <= sp.breaks ? 0 : 1;
        else kid = sp.index[code];
        if (kid < 0) kid = sp.default_kid;     // level absent from the node: larger child
      }
      kid = Math.min(kid, node.children.length - 1);
      path.push(sp.labels[kid]);
      node = m.nodes[String(node.children[kid])];
    }
    var eff = m.effects[String(node.id)], out = {};
    m.columns.forEach(function (c) { out[c] = [eff[c]]; });
    var e = eff.estimate, better = SPEC.higher_is_better ? e > 0 : e < 0;
    return {kind: "tree", node: node.id, rule: path.join(" & ") || "all patients", rows: ["node " + node.id],
            columns: out, recommended: SPEC.treatments[better ? 1 : 0], plot: {x: node.id, y: [e]}};
  }

  // ------------------------------------------------------------------ Bayesian survival NMR
  // Per posterior draw s (as SurvivalRiskNMRResult._predict_weibull_bayes / _predict_bayes):
  // lp_k = M_k theta_s; Weibull: mu = -(base_s + lp_k) / rho_s, scale 1 / rho_s, S(t*) and
  // RMST(tau) in closed form (incomplete gamma); Cox: S(t*) = exp(-Hb_s e^lp_k), RMST =
  // sum_i w_i exp(-Hp_si e^lp_k).  Posterior means and equal-tailed quantiles (numpy's
  // linear rule); P(best): the first maximum of sign * lp over the treatments per draw.
  function evalSurvNMRBayes(values) {
    var m = SPEC.model, T = SPEC.treatments.length, P = m.n_theta, a = SPEC.constants.alpha_half;
    var r = m.stage1 ? riskScore(m.stage1, values) : values[m.risk_input];
    var x = m.has_risk ? r - m.centre : 0.0, M = survRows(T, P, x, m.has_risk);
    var D = draws(m), S = m.draws.n, weib = m.survival_model === "weibull", withR = m.rmst;
    var Hp = withR && !weib ? f64(m, "Hp") : null, w = withR && !weib ? f64(m, "w") : null, n1 = m.m;
    var lp = [], Sh = [], rm = [];
    for (var k = 0; k < T; k++) {
      var l = new Float64Array(S), sv = new Float64Array(S), rv = new Float64Array(S);
      for (var s = 0; s < S; s++) {
        var v = 0; for (var p = 0; p < P; p++) v += M[k][p] * D[p][s];
        l[s] = v;
        if (weib) {
          var rho = D[P + 1][s], mu = -(D[P][s] + v) / rho, sc = 1.0 / rho;
          sv[s] = weibullSurv(m.horizon, mu, sc);
          if (withR) rv[s] = weibullRmst(m.tau, mu, sc);
        } else {
          var e = Math.exp(v);
          sv[s] = Math.exp(-D[P][s] * e);
          if (withR) { var t = 0; for (var i = 0; i < n1; i++) t += w[i] * Math.exp(-Hp[s * n1 + i] * e); rv[s] = t; }
        }
      }
      lp.push(l); Sh.push(sv); rm.push(rv);
    }
    var keys = ["surv", "surv_diff", "hr"].concat(withR ? ["rmst", "rmst_diff"] : []), out = {};
    keys.forEach(function (key) { ["", "_lower", "_upper"].forEach(function (sf) { out[key + sf] = new Array(T).fill(null); }); });
    out.p_best = new Array(T).fill(0);
    function summ(key, k, arr) {
      var q = quantiles(arr, [a, 1 - a]);
      out[key][k] = mean(arr); out[key + "_lower"][k] = q[0]; out[key + "_upper"][k] = q[1];
    }
    for (var k2 = 0; k2 < T; k2++) {
      var sd = new Float64Array(S), hr = new Float64Array(S), rd = new Float64Array(S);
      for (var s2 = 0; s2 < S; s2++) {
        sd[s2] = Sh[k2][s2] - Sh[0][s2]; hr[s2] = Math.exp(lp[k2][s2] - lp[0][s2]);
        if (withR) rd[s2] = rm[k2][s2] - rm[0][s2];
      }
      summ("surv", k2, Sh[k2]); summ("surv_diff", k2, sd); summ("hr", k2, hr);
      if (withR) { summ("rmst", k2, rm[k2]); summ("rmst_diff", k2, rd); }
    }
    var sign = SPEC.higher_is_better ? 1.0 : -1.0;
    for (var s3 = 0; s3 < S; s3++) {
      var b = 0;
      for (var k3 = 1; k3 < T; k3++) if (sign * lp[k3][s3] > sign * lp[b][s3]) b = k3;
      out.p_best[b] += 1;
    }
    for (var k4 = 0; k4 < T; k4++) out.p_best[k4] /= S;
    var best = 0;
    for (var k5 = 1; k5 < T; k5++) if (SPEC.higher_is_better ? out.surv[k5] < out.surv[best] : out.surv[k5] > out.surv[best]) best = k5;
    return {kind: "risk-nmr", baseline_risk: 1.0 - out.surv[0], risk_score: r, rows: SPEC.treatments.slice(),
            columns: out, recommended: SPEC.treatments[best], plot: {x: r, y: out.surv_diff.slice()},
            notes: withR ? [] : [m.rmst_omitted]};
  }

  var KINDS = {"risk-nmr": evalRiskNMR, "ite-linear": evalITELinear, "ite-weighted": evalITEWeighted,
               "ite-network": evalITENetwork,
               "tree": evalTree};

  function evaluate(raw) {
    var inp = readInputs(raw);
    if (inp.errors.length) return {ok: false, errors: inp.errors, warnings: inp.warnings};
    var res = KINDS[SPEC.kind](inp.values);
    res.ok = true; res.errors = []; res.warnings = inp.warnings;
    return res;
  }

  // ------------------------------------------------------------------ page
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v, f) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    if (f === "pct") return (100 * v).toFixed(1) + " %";
    if (f === "pp") return (v >= 0 ? "+" : "") + (100 * v).toFixed(1) + " pp";
    if (f === "prob") return v.toFixed(2);
    if (f === "int") return String(Math.round(v));
    return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3);
  }
  function readForm() {
    var raw = {};
    SPEC.inputs.forEach(function (inp) { raw[inp.name] = document.getElementById("in-" + inp.id).value; });
    return raw;
  }
  var SVGNS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs) { var e = document.createElementNS(SVGNS, tag); for (var k in attrs) e.setAttribute(k, attrs[k]); return e; }
  var COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"];

  function drawPlot(res) {
    var host = document.getElementById("plot"), P = SPEC.plot;
    host.textContent = "";
    if (!P) return;
    var W = 520, H = 300, L = 60, R = 130, Tm = 16, B = 44;
    var xs = P.xlim, ys = P.ylim.slice();
    if (res && res.ok) res.plot.y.forEach(function (v) { if (isFinite(v)) { ys[0] = Math.min(ys[0], v); ys[1] = Math.max(ys[1], v); } });
    var sx = function (v) { return L + (v - xs[0]) / (xs[1] - xs[0]) * (W - L - R); };
    var sy = function (v) { return H - B - (v - ys[0]) / (ys[1] - ys[0] || 1) * (H - Tm - B); };
    var svg = svgEl("svg", {viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img", "aria-labelledby": "plot-title"});
    var title = svgEl("title", {id: "plot-title"}); title.textContent = P.title; svg.appendChild(title);
    svg.appendChild(svgEl("rect", {x: L, y: Tm, width: W - L - R, height: H - Tm - B, fill: "none", stroke: "#999"}));
    if (ys[0] < 0 && ys[1] > 0) svg.appendChild(svgEl("line", {x1: L, x2: W - R, y1: sy(0), y2: sy(0), stroke: "#bbb", "stroke-dasharray": "4 3"}));
    (P.xticks || [xs[0], (xs[0] + xs[1]) / 2, xs[1]]).forEach(function (v) {
      var t = svgEl("text", {x: sx(v), y: H - B + 16, "text-anchor": "middle", "font-size": 11}); t.textContent = fmt(v, P.xfmt); svg.appendChild(t);
    });
    [ys[0], (ys[0] + ys[1]) / 2, ys[1]].forEach(function (v) {
      var t = svgEl("text", {x: L - 6, y: sy(v) + 4, "text-anchor": "end", "font-size": 11}); t.textContent = fmt(v, P.yfmt); svg.appendChild(t);
    });
    var xl = svgEl("text", {x: (L + W - R) / 2, y: H - 8, "text-anchor": "middle", "font-size": 12}); xl.textContent = P.xlabel; svg.appendChild(xl);
    var yl = svgEl("text", {x: 14, y: (Tm + H - B) / 2, "text-anchor": "middle", "font-size": 12, transform: "rotate(-90 14 " + (Tm + H - B) / 2 + ")"}); yl.textContent = P.ylabel; svg.appendChild(yl);
    P.series.forEach(function (s, i) {
      var col = COLORS[s.color % COLORS.length];
      if (s.type === "points") {
        s.x.forEach(function (xv, j) { svg.appendChild(svgEl("circle", {cx: sx(xv), cy: sy(s.y[j]), r: 2, fill: col, "fill-opacity": 0.35})); });
      } else if (s.type === "bars") {
        s.x.forEach(function (xv, j) {
          svg.appendChild(svgEl("line", {x1: sx(xv), x2: sx(xv), y1: sy(s.lo[j]), y2: sy(s.hi[j]), stroke: col, "stroke-width": 2}));
          svg.appendChild(svgEl("rect", {x: sx(xv) - 4, y: sy(s.y[j]) - 4, width: 8, height: 8, fill: col}));
        });
      } else {
        var d = s.x.map(function (xv, j) { return (j ? "L" : "M") + sx(xv).toFixed(1) + "," + sy(s.y[j]).toFixed(1); }).join("");
        svg.appendChild(svgEl("path", {d: d, fill: "none", stroke: col, "stroke-width": 2}));
      }
      var lg = svgEl("text", {x: W - R + 8, y: Tm + 14 + 16 * i, "font-size": 11, fill: col}); lg.textContent = s.name; svg.appendChild(lg);
    });
    if (res && res.ok) {
      res.plot.y.forEach(function (yv, k) {
        if (!isFinite(yv)) return;
        var c = svgEl("circle", {cx: sx(res.plot.x), cy: sy(yv), r: 6, fill: "#fff", stroke: COLORS[(P.marker_colors || [])[k] || 0], "stroke-width": 3});
        c.setAttribute("class", "patient-marker");
        svg.appendChild(c);
      });
      var ml = svgEl("text", {x: Math.min(sx(res.plot.x) + 8, W - R - 60), y: Tm + 12, "font-size": 11}); ml.textContent = "this patient"; svg.appendChild(ml);
    }
    host.appendChild(svg);
  }

  function render(res) {
    document.getElementById("ipdma-result").textContent = JSON.stringify(res);
    var msg = document.getElementById("messages");
    msg.textContent = "";
    SPEC.inputs.forEach(function (inp) {
      var f = document.getElementById("in-" + inp.id), note = document.getElementById("note-" + inp.id);
      f.removeAttribute("aria-invalid"); note.textContent = ""; note.className = "note";
    });
    res.errors.forEach(function (e) {
      msg.appendChild(el("p", {"class": "error", "data-input": e.input}, e.message));
      var inp = SPEC.inputs.filter(function (i) { return i.name === e.input; })[0];
      document.getElementById("in-" + inp.id).setAttribute("aria-invalid", "true");
      var n = document.getElementById("note-" + inp.id); n.textContent = e.message; n.className = "note error";
    });
    res.warnings.forEach(function (w) {
      msg.appendChild(el("p", {"class": "warning", "data-input": w.input}, w.message));
      var inp = SPEC.inputs.filter(function (i) { return i.name === w.input; })[0];
      var n = document.getElementById("note-" + inp.id); n.textContent = w.message; n.className = "note warning";
    });
    var tbl = document.getElementById("results"), rec = document.getElementById("recommended");
    tbl.textContent = "";
    if (!res.ok) { rec.textContent = "No prediction: correct the inputs marked above."; rec.removeAttribute("data-value"); drawPlot(null); return; }
    var head = el("tr");
    head.appendChild(el("th", {scope: "col"}, SPEC.row_label));
    SPEC.outputs.forEach(function (o) { head.appendChild(el("th", {scope: "col"}, o.label)); });
    var thead = el("thead"); thead.appendChild(head); tbl.appendChild(thead);
    var tb = el("tbody");
    res.rows.forEach(function (rname, i) {
      var tr = el("tr", {"data-row": rname});
      if (rname === res.recommended) tr.setAttribute("class", "best");
      tr.appendChild(el("th", {scope: "row"}, rname));
      SPEC.outputs.forEach(function (o) {
        var val = o.keys.map(function (k) { return res.columns[k] ? res.columns[k][i] : null; });
        var txt = fmt(val[0], o.fmt);
        if (val.length === 3) txt += " (" + fmt(val[1], o.fmt) + " to " + fmt(val[2], o.fmt) + ")";
        var td = el("td", {"data-key": o.keys[0], "data-value": String(val[0])}, txt);
        if (i === 0 && o.ref_blank && (SPEC.kind === "risk-nmr" || SPEC.kind === "ite-network")) td.textContent = "reference";
        tr.appendChild(td);
      });
      tb.appendChild(tr);
    });
    tbl.appendChild(tb);
    rec.textContent = SPEC.recommend_text.replace("{treatment}", res.recommended) + (res.rule ? " Subgroup: " + res.rule + "." : "");
    rec.setAttribute("data-value", res.recommended);
    if (res.baseline_risk !== undefined) {
      rec.textContent += SPEC.family === "survival"
        ? " Risk of the event by t = " + SPEC.outcome.horizon + " under " + SPEC.reference + ": " + fmt(res.baseline_risk, "pct") + "."
        : " Baseline risk (treatment-blind): " + fmt(res.baseline_risk, "pct") + ".";
    }
    drawPlot(res);
  }

  function update() { render(evaluate(readForm())); }

  // public hooks for tests and scripting: evaluate without touching the page, or fill the
  // form and read what the page shows
  window.ipdmaCalculator = {
    spec: SPEC, evaluate: evaluate,
    special: {lgamma: lgamma, gamma: gammaFn, gammainc: gammaP, weibullRmst: weibullRmst},
    fillAndRead: function (raw) {
      SPEC.inputs.forEach(function (inp) {
        var f = document.getElementById("in-" + inp.id);
        f.value = raw[inp.name] === undefined || raw[inp.name] === null ? "" : String(raw[inp.name]);
      });
      update();
      return JSON.parse(document.getElementById("ipdma-result").textContent);
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    SPEC.inputs.forEach(function (inp) {
      var f = document.getElementById("in-" + inp.id);
      f.addEventListener("input", update); f.addEventListener("change", update);
    });
    document.getElementById("reset").addEventListener("click", function () {
      SPEC.inputs.forEach(function (inp) { document.getElementById("in-" + inp.id).value = inp.default === null ? "" : String(inp.default); });
      update();
    });
    unpackAll(SPEC.model).then(function () {
      update();
      window.ipdmaReadyAt = performance.now();
      document.body.setAttribute("data-ready", "1");
    });
  });
})();
