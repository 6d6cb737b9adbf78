# expect: Y_FROM_APREV
a_next = np.tanh(Waa @ a_prev + Wax @ xt + ba)
yt_pred = softmax(Wya @ a_prev + by)
